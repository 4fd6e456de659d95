/**
 * The one rule that makes the browser bundle small: client code's imports of
 * `shared/protocol` (which builds the full zod schemas of the server side at load)
 * resolve to client/browser/protocol.ts in browser builds. The SDK's esbuild build and the
 * console's Vite build both use it. (Client code takes codecs and frame limits from the
 * zod-free shared/codecs.ts, so nothing else needs a substitute.)
 */
import path from "node:path";

const CLIENT_DIR = path.resolve(__dirname, "..");
const BROWSER_DIR = path.join(CLIENT_DIR, "browser");
const SUBSTITUTED = new Set(["protocol"]);

/** The file to use instead of `specifier` imported from `importer`, or undefined to resolve it as usual. */
export function browserSubstitute(specifier: string, importer: string | undefined): string | undefined {
  if (importer === undefined) return undefined;
  const dir = path.dirname(importer);
  if (!dir.startsWith(CLIENT_DIR) || dir.startsWith(BROWSER_DIR)) return undefined;
  const match = /(?:^|\/)shared\/([a-z-]+)$/.exec(specifier);
  if (!match?.[1] || !SUBSTITUTED.has(match[1])) return undefined;
  return path.join(BROWSER_DIR, `${match[1]}.ts`);
}

/** Where each entry point of the package lives. */
export const ENTRY_POINTS = {
  browser: path.join(BROWSER_DIR, "index.ts"),
  node: path.join(CLIENT_DIR, "index.ts"),
} as const;
