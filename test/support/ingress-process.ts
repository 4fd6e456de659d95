/**
 * The ingress as its own process (`functions/ingress/main.ts`, what Cloud Run runs), for
 * tests that kill an instance and start a replacement on the same port.
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

export async function startIngressProcess(options: {
  resources: EnvironmentResources;
  tokenSecret: string;
  port: number;
  chunkSeconds: number;
  idleTimeoutSeconds?: number;
}): Promise<IngressProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "functions/ingress/main.ts")], {
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
    if (child.exitCode !== null) throw new Error(`the ingress process exited with ${child.exitCode}:\n${output}`);
    const healthy = await fetch(`http://127.0.0.1:${options.port}/healthz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (healthy) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the ingress process did not become healthy:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url: `ws://127.0.0.1:${options.port}/v1/listen`,
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
