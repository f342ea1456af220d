import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration suites start real servers; two cores do not gain from many parallel forks.
    maxWorkers: 2,
    reporters: ['default'],
  },
})
