/**
 * What can be checked of the deployables without a Docker engine or a cloud: the
 * Dockerfile's shape, that its entry point is what the build produces, and that the
 * commands and entry points the infrastructure names exist.
 */
import fs from "node:fs";
import path from "node:path";
import { API_MAIN, apiCommand } from "../../infra/api";
import { WORKER_SPECS } from "../../infra/workers";
import { REPOSITORY_ROOT } from "./support/stack-files";

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Dockerfile instructions by stage: continuation lines joined, comments dropped. */
function dockerStages(text: string): Instruction[][] {
  const logical = text
    .replace(/\\\r?\n/g, " ")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  const stages: Instruction[][] = [];
  for (const line of logical) {
    const [keyword = "", ...rest] = line.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(" ") };
    if (instruction.keyword === "FROM") stages.push([]);
    stages.at(-1)?.push(instruction);
  }
  return stages;
}

const read = (file: string) => fs.readFileSync(path.join(REPOSITORY_ROOT, file), "utf8");
const stages = dockerStages(read("Dockerfile"));
const runtime = stages.at(-1) ?? [];
/**
 * The TypeScript source a built file comes from, checked to exist and to be compiled:
 * tsconfig.build.json compiles rootDir "." into outDir "dist", so dist/X.js comes from X.ts.
 */
function sourceOf(entry: string): string {
  const build = JSON.parse(read("tsconfig.build.json")) as {
    include: string[];
    compilerOptions?: { outDir?: string };
  };
  const base = JSON.parse(read("tsconfig.json")) as { compilerOptions: { rootDir: string; outDir: string } };
  const outDir = build.compilerOptions?.outDir ?? base.compilerOptions.outDir;
  expect(base.compilerOptions.rootDir).toBe(".");
  expect(entry.startsWith(`${outDir}/`)).toBe(true);
  const source = entry.slice(outDir.length + 1).replace(/\.js$/, ".ts");
  expect(build.include).toContain(source.split("/")[0]);
  expect(fs.existsSync(path.join(REPOSITORY_ROOT, source))).toBe(true);
  return source;
}

const argsOf = (stage: readonly Instruction[], keyword: string) =>
  stage.filter((i) => i.keyword === keyword).map((i) => i.args);

describe("Dockerfile", () => {
  test("is multi-stage: a build stage, then a runtime stage on the same Node.js 22 base", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const froms = stages.map((stage) => stage[0]?.args ?? "");
    for (const from of froms) expect(from).toMatch(/^node:22[.\w-]*/);
  });

  test("the build stage installs everything and runs the build", () => {
    const build = stages[0] ?? [];
    expect(argsOf(build, "RUN")).toEqual(expect.arrayContaining(["npm ci", "npm run build"]));
  });

  test("the runtime stage installs production dependencies only and copies the build output", () => {
    expect(argsOf(runtime, "RUN").some((run) => /^npm ci --omit=dev\b/.test(run))).toBe(true);
    expect(argsOf(runtime, "COPY")).toContain("--from=build /app/dist ./dist");
  });

  test("runs as a non-root user", () => {
    const users = argsOf(runtime, "USER");
    expect(users).toHaveLength(1);
    expect(users[0]).not.toMatch(/^(root|0)(:|$)/);
    const keywords = runtime.map((i) => i.keyword);
    expect(keywords.indexOf("USER")).toBeLessThan(keywords.indexOf("CMD"));
  });

  test("starts the ingress from the build output of functions/ingress/main.ts", () => {
    const cmd = argsOf(runtime, "CMD");
    expect(cmd).toHaveLength(1);
    const command = JSON.parse(cmd[0] ?? "null") as string[];
    expect(command).toEqual(["node", "dist/functions/ingress/main.js"]);

    expect(sourceOf(command[1] ?? "")).toBe("functions/ingress/main.ts");
  });

  test(".dockerignore keeps dependencies and outputs out, and the sources in", () => {
    const ignored = read(".dockerignore")
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"));
    expect(ignored).toEqual(expect.arrayContaining(["node_modules", "dist", ".git"]));
    const build = JSON.parse(read("tsconfig.build.json")) as { include: string[] };
    for (const needed of [
      ...build.include,
      "package.json",
      "package-lock.json",
      "tsconfig.json",
      "tsconfig.build.json",
    ]) {
      expect(ignored).not.toContain(needed);
    }
  });
});

describe("the API command", () => {
  test("runs the plain server of functions/api/main.ts from the image, as the local stack does", () => {
    expect(apiCommand()).toEqual({ commands: ["node"], args: [API_MAIN] });
    expect(sourceOf(API_MAIN)).toBe("functions/api/main.ts");
    // The same server the local stack and the API tests start.
    expect(read("functions/api/main.ts")).toMatch(/import \{ startApi \} from "\.\/server"/);
  });
});

describe("the workers infra deploys", () => {
  test("are the workers functions/workers.ts registers, on the same topics and subscriptions", async () => {
    const { WORKERS } = await import("../../functions/workers");
    const registered = WORKERS.map((w) => `${w.name} ${w.topic} ${w.subscription}`).sort();
    const deployed = Object.values(WORKER_SPECS)
      .map((w) => `${w.entryPoint} ${w.topic} ${w.subscription}`)
      .sort();
    expect(registered).toEqual(deployed);
  });
});

describe("functions/index.ts", () => {
  test("registers every entry point infra deploys (the three workers), and no API", async () => {
    await import("../../functions/index");
    const { getFunction } = await import("@google-cloud/functions-framework/testing");
    const entryPoints = Object.values(WORKER_SPECS).map((w) => w.entryPoint);
    expect(entryPoints.filter((name) => getFunction(name) === undefined)).toEqual([]);
    expect(getFunction("api")).toBeUndefined();
  });
});
