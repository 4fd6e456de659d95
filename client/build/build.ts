/**
 * `npm run build:client`: builds the SDK package in client/dist — the browser entry
 * (ESM, minified, everything inlined), the Node entry (ESM, `ws` and `zod` as dependencies)
 * and type declarations — and prints the browser bundle's size, gzipped.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { bundleBrowserSdk, bundleNodeSdk } from "./bundle";

const CLIENT_DIR = path.resolve(__dirname, "..");
const DIST = path.join(CLIENT_DIR, "dist");

async function main(): Promise<void> {
  fs.rmSync(DIST, { recursive: true, force: true });
  fs.mkdirSync(DIST, { recursive: true });
  const browser = await bundleBrowserSdk(path.join(DIST, "browser.mjs"));
  await bundleNodeSdk(path.join(DIST, "node.mjs"));
  execFileSync(
    process.execPath,
    [require.resolve("typescript/bin/tsc"), "-p", path.join(CLIENT_DIR, "tsconfig.build.json")],
    {
      stdio: "inherit",
    },
  );
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  process.stdout.write(
    `client/dist/browser.mjs  ${kb(browser.bytes)} minified, ${kb(browser.gzipBytes)} gzipped\n` +
      "client/dist/node.mjs     Node entry (ws, zod as dependencies)\n" +
      "client/dist/types/       type declarations\n",
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`build:client failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
