// NODE_OPTIONS="--require bench/cost-preload.cjs": loads bench/cost-preload.ts in a stack
// process's main thread (not in the loader's worker threads, which lack tsx).
if (require("node:worker_threads").isMainThread) {
  require("tsx/cjs");
  require("./cost-preload.ts");
}
