/**
 * The console's production build takes a token and cannot mint one: the local stack's
 * token minting and dead-letter reading exist only in the local build that `npm start`
 * serves. Both builds are made here from the sources.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const CONSOLE = path.resolve(__dirname, "../../console");
const VITE = path.resolve(__dirname, "../../node_modules/vite/bin/vite.js");

function build(mode: string | undefined): string {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "tether-console-"));
  execFileSync(
    process.execPath,
    [VITE, "build", "--outDir", out, "--logLevel", "error", ...(mode ? ["--mode", mode] : [])],
    {
      cwd: CONSOLE,
      stdio: "pipe",
    },
  );
  const assets = path.join(out, "assets");
  return fs
    .readdirSync(assets)
    .filter((f) => f.endsWith(".js"))
    .map((f) => fs.readFileSync(path.join(assets, f), "utf8"))
    .join("\n");
}

describe("the console's builds", () => {
  it("leave token minting and dead letters out of the production build", () => {
    const production = build(undefined);
    const local = build("localstack");
    for (const localOnly of ["local/token", "local/dead-letters", "local/overview"]) {
      expect(local).toContain(localOnly);
      expect(production).not.toContain(localOnly);
    }
    expect(production).toContain("access token"); // the production console asks for one
  }, 120_000);
});
