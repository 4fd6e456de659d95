/**
 * Bundles the SDK's browser entry point with esbuild (in memory or to a file) and
 * measures it: the build script, `npm run bench` and the bundle test all call this, so
 * the size they report is the size of the same bundle.
 */
import zlib from "node:zlib";
import * as esbuild from "esbuild";
import { browserSubstitute, ENTRY_POINTS } from "./substitutes";

const substitutes: esbuild.Plugin = {
  name: "tether-browser-substitutes",
  setup(build) {
    build.onResolve({ filter: /shared\/protocol$/ }, (args) => {
      const file = browserSubstitute(args.path, args.importer);
      return file ? { path: file } : undefined;
    });
  },
};

export interface BrowserBundle {
  readonly code: Uint8Array;
  readonly bytes: number;
  readonly gzipBytes: number;
  /** Every input file (and package) that ended up in the bundle. */
  readonly inputs: readonly string[];
}

/** The minified ESM browser bundle of the SDK, everything inlined. */
export async function bundleBrowserSdk(outfile?: string): Promise<BrowserBundle> {
  const result = await esbuild.build({
    entryPoints: [ENTRY_POINTS.browser],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: outfile ? "linked" : false,
    metafile: true,
    write: false,
    outfile: outfile ?? "browser.mjs",
    plugins: [substitutes],
    logLevel: "silent",
  });
  const output = result.outputFiles.find((f) => f.path.endsWith(".mjs"));
  if (!output) throw new Error("esbuild produced no bundle");
  if (outfile) {
    const fs = await import("node:fs");
    for (const file of result.outputFiles) fs.writeFileSync(file.path, file.contents);
  }
  return {
    code: output.contents,
    bytes: output.contents.length,
    gzipBytes: zlib.gzipSync(output.contents, { level: 9 }).length,
    inputs: Object.keys(result.metafile.inputs),
  };
}

/** The Node entry point as ESM; `ws` and `zod` stay dependencies of the package. */
export async function bundleNodeSdk(outfile: string): Promise<void> {
  await esbuild.build({
    entryPoints: [ENTRY_POINTS.node],
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: "linked",
    outfile,
    external: ["ws", "zod", "bufferutil", "utf-8-validate"],
    logLevel: "silent",
  });
}

export { substitutes as browserSubstitutesPlugin };
