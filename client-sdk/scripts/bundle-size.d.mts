/** Types of ./bundle-size.mjs, for tests/unit/bundle-size.test.ts. */

export interface BundleSize {
  minBytes: number
  gzipBytes: number
}

/** What an app imports, per measured bundle. */
export const ENTRIES: { sdk: string; rest: string; 'sdk+react': string }
/** Bundles one entry (peer dependencies left out); its minified and min+gzip sizes in bytes. */
export function measure(contents: string): Promise<BundleSize>
/** Sizes of every entry in ENTRIES. */
export function measureAll(): Promise<Record<keyof typeof ENTRIES, BundleSize>>
