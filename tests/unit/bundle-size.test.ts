/**
 * The SDK's size in an app's bundle (`npm run size`): the built package bundled and minified by esbuild,
 * peer dependencies left out, gzipped. The budgets sit a little above the figures client-sdk/README.md
 * quotes, so a change that makes the SDK noticeably heavier fails here and gets a look (and the README
 * a new figure) instead of slipping in.
 */
import { describe, expect, test } from 'vitest'
import { measureAll } from '../../client-sdk/scripts/bundle-size.mjs'

const KB = 1024

describe('SDK bundle size (min+gzip, without peer dependencies)', () => {
  test('the SDK, its REST client alone and the React hooks stay within their budgets', async () => {
    const sizes = await measureAll()
    expect(sizes.sdk.gzipBytes).toBeLessThan(11 * KB)
    expect(sizes.rest.gzipBytes).toBeLessThan(2.5 * KB)
    expect(sizes['sdk+react'].gzipBytes - sizes.sdk.gzipBytes).toBeLessThan(1.5 * KB)
    // The REST client alone is a small part of the whole: the bundle tree-shakes the socket client away.
    expect(sizes.rest.gzipBytes).toBeLessThan(sizes.sdk.gzipBytes / 3)
  })
})
