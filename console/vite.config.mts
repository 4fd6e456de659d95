/**
 * Builds the console with Vite and Preact. `vite build` is the production console (takes
 * a token; console/dist); `vite build --mode localstack` adds what only a local stack offers
 * (token minting, dead letters; console/dist-local, served by `npm start`). The SDK is
 * imported as `@tether/client` from its source, with the same browser substitutes as the
 * SDK's own build, so the console ships the small browser SDK.
 */
import path from "node:path";
import { defineConfig, type Plugin } from "vite";
import { browserSubstitute } from "../client/build/substitutes";

const root = path.dirname(new URL(import.meta.url).pathname);

const sdkSubstitutes: Plugin = {
  name: "tether-browser-substitutes",
  enforce: "pre",
  async resolveId(source, importer) {
    if (!/shared\/(protocol|audio-format)$/.test(source)) return null;
    return browserSubstitute(source, importer) ?? null;
  },
};

export default defineConfig(({ mode }) => ({
  root,
  base: "./",
  plugins: [sdkSubstitutes],
  resolve: {
    alias: { "@tether/client": path.resolve(root, "../client/browser/index.ts") },
  },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: mode === "localstack" ? "dist-local" : "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
}));
