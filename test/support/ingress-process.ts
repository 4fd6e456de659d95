/**
 * A Cloud Run entry point as its own process: the ingress (`functions/ingress/main.ts`), for
 * tests that kill an instance and start a replacement on the same port, or the API
 * (`functions/api/main.ts`), for tests of what the deployed server does.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import type { EnvironmentResources } from "../../shared/environment";

export interface IngressProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Output so far (logs), for failure messages. */
  output(): string;
  /** SIGKILL: the instance vanishes without draining. */
  kill(): Promise<void>;
  /** SIGTERM: the instance drains; resolves with its exit code. */
  terminate(): Promise<number | null>;
}

const ROOT = path.resolve(__dirname, "../..");

export interface ProcessOptions {
  resources: EnvironmentResources;
  tokenSecret: string;
  port: number;
  chunkSeconds: number;
  idleTimeoutSeconds?: number;
}

export async function startIngressProcess(
  options: ProcessOptions,
  main: "functions/ingress/main.ts" | "test/support/ingress-dies-at-finalizing.ts" = "functions/ingress/main.ts",
): Promise<IngressProcess> {
  const started = await startServiceProcess(main, options);
  return { ...started, url: `ws://127.0.0.1:${options.port}/v1/listen` };
}

/** Starts `main` (relative to the repository) as Cloud Run would, and waits for its /healthz. */
export async function startServiceProcess(
  main: "functions/ingress/main.ts" | "functions/api/main.ts" | "test/support/ingress-dies-at-finalizing.ts",
  options: ProcessOptions,
): Promise<Omit<IngressProcess, "url">> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, main)], {
    cwd: ROOT,
    env: {
      ...process.env,
      TETHER_ENVIRONMENT: options.resources.environment,
      TETHER_PROJECT_ID: options.resources.projectId,
      TETHER_TOKEN_SECRET: options.tokenSecret,
      TETHER_CHUNK_SECONDS: String(options.chunkSeconds),
      TETHER_IDLE_TIMEOUT_SECONDS: String(options.idleTimeoutSeconds ?? 120),
      PORT: String(options.port),
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${main} exited with ${child.exitCode}:\n${output}`);
    const healthy = await fetch(`http://127.0.0.1:${options.port}/healthz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (healthy) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${main} did not become healthy:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    port: options.port,
    child,
    output: () => output,
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
    async terminate() {
      child.kill("SIGTERM");
      return await exited;
    },
  };
}
