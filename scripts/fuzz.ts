/**
 * `npm run fuzz -- --runs 10000 [--seed N]`: the property-based fuzzer
 * (test/integration/fuzz.test.ts) for longer than `npm test` runs it, on the emulators
 * jest's global setup starts. The seed is printed; pass it back to replay a run.
 */
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "1000" }, seed: { type: "string" }, help: { type: "boolean" } },
});
if (values.help) {
  console.log("npm run fuzz -- [--runs N (default 1000)] [--seed N (default: the clock)]");
  process.exit(0);
}
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a positive integer, not ${values.runs}`);
  process.exit(2);
}
const env = {
  ...process.env,
  FUZZ_RUNS: String(runs),
  ...(values.seed !== undefined ? { FUZZ_SEED: values.seed } : {}),
};
const result = spawnSync(
  "npx",
  ["jest", "--selectProjects", "integration", "--testPathPatterns", "test/integration/fuzz\\.test\\.ts$"],
  { stdio: "inherit", env },
);
process.exit(result.status ?? 1);
