/**
 * The SDK's browser bundle size (minified, gzipped): the figure an app pays to embed the
 * client. Built in memory by the same function as `npm run build:client`.
 */
import { bundleBrowserSdk } from "../client/build/bundle";
import type { BenchContext } from "./run";

export async function run(context: BenchContext): Promise<void> {
  const bundle = await bundleBrowserSdk();
  context.report(
    `browser SDK bundle: ${(bundle.bytes / 1024).toFixed(1)} KB minified, ${(bundle.gzipBytes / 1024).toFixed(1)} KB gzipped (client/browser/index.ts)`,
  );
}
