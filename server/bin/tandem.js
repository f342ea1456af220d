#!/usr/bin/env node
// Thin launcher so the bin link exists before `tsc -b` has produced dist/.
import('../dist/main.js').catch((err) => {
  console.error(err)
  process.exit(1)
})
