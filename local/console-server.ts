/**
 * The conversation console on the local stack: serves the console's local build
 * (console/, built on demand) and the three things only a local stack can offer it —
 * the environments' URLs (`/config.json`, no keys), an access token for a typed user id
 * signed with that environment's local key (`POST /local/token`), and each environment's
 * dead letters read from the Pub/Sub emulator (`GET /local/dead-letters?env=`), its recent
 * notifications (`GET /local/notifications?env=`) and what runs in it now: ingress
 * processes with their sockets, and each subscription's backlog (`GET /local/overview?env=`).
 * The production console is a static build that takes a token and has none of these.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { z } from "zod";
import type { EnvironmentRuntime, RunningService } from "../functions/runtime";
import { signAccessToken } from "../shared/auth";
import type { EnvironmentName } from "../shared/environment";
import { subscriberClientFor } from "../shared/gcp-clients";
import { userIdSchema } from "../shared/identifiers";
import { type Logger, requestPath } from "../shared/logger";
import { notificationSchema } from "../shared/notifications";
import type { DeadLettersAnswer, DeadLetterView } from "./console-dead-letters";
import type { NotificationsAnswer, NotificationView } from "./console-notifications";
import { type OverviewSources, overview } from "./console-overview-read";
import type { RunningStack } from "./stack";

const CONSOLE_DIR = path.resolve(__dirname, "..", "console");
/** The local build (token minting, the overview page); `npm run build:console` makes the production one in console/dist. */
export const LOCAL_BUILD_DIR = path.join(CONSOLE_DIR, "dist-local");
const SOURCES = [
  path.join(CONSOLE_DIR, "src"),
  path.join(CONSOLE_DIR, "index.html"),
  path.resolve(__dirname, "..", "client"),
];

export interface ConsoleEnvironment extends OverviewSources {
  readonly ingress_url: string;
  readonly api_url: string;
  readonly token_secret: string;
  /** For dead letters; absent when the environment runs elsewhere. */
  readonly runtime?: EnvironmentRuntime;
}

export interface ConsoleServerOptions {
  readonly host: string;
  readonly port: number;
  readonly environments: readonly ConsoleEnvironment[];
  readonly logger: Logger;
}

/** Newest modification time under `target` (files and folders, recursively; dist and node_modules skipped). */
function newestMtime(target: string): number {
  if (!fs.existsSync(target)) return 0;
  const stat = fs.statSync(target);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of fs.readdirSync(target)) {
    if (entry === "dist" || entry === "node_modules") continue;
    newest = Math.max(newest, newestMtime(path.join(target, entry)));
  }
  return newest;
}

function upToDate(): boolean {
  const index = path.join(LOCAL_BUILD_DIR, "index.html");
  const built = fs.existsSync(index) ? fs.statSync(index).mtimeMs : 0;
  return built > Math.max(...SOURCES.map(newestMtime));
}

/**
 * Builds the console's local bundle when it is missing or older than its sources. Several
 * stacks may start at once (test files in parallel): one builds, the others wait for it.
 */
export async function ensureConsoleBuilt(logger: Logger): Promise<void> {
  const lock = path.join(CONSOLE_DIR, ".build-lock");
  for (;;) {
    if (upToDate()) return;
    try {
      fs.mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      // A build that died long ago leaves its lock behind.
      const since = fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
      if (Date.now() - since > 180_000) fs.rmSync(lock, { recursive: true, force: true });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    if (!upToDate()) await buildLocalConsole(logger);
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

async function buildLocalConsole(logger: Logger): Promise<void> {
  logger.info({ out_dir: LOCAL_BUILD_DIR }, "building the console (local mode)");
  // Vite is ESM-only and this stack runs as CommonJS: build in a child process.
  const vite = path.resolve(__dirname, "..", "node_modules", "vite", "bin", "vite.js");
  await promisify(execFile)(process.execPath, [vite, "build", "--mode", "localstack", "--logLevel", "warn"], {
    cwd: CONSOLE_DIR,
  });
}

/**
 * The messages waiting in one of an environment's operator subscriptions, read without
 * removing them (each is handed back to Pub/Sub at once).
 */
export async function peek(runtime: EnvironmentRuntime, key: "deadLetter" | "notificationsRecent") {
  const client = await subscriberClientFor(runtime.clients.pubsub);
  const subscription = client.subscriptionPath(runtime.resources.projectId, runtime.resources.subscriptions[key]);
  try {
    const [response] = await client.pull({ subscription, maxMessages: 100, returnImmediately: true });
    const received = response.receivedMessages ?? [];
    const ackIds = received.map((m) => m.ackId).filter((id): id is string => typeof id === "string");
    if (ackIds.length > 0) await client.modifyAckDeadline({ subscription, ackIds, ackDeadlineSeconds: 0 });
    return received;
  } finally {
    await client.close();
  }
}

/** The recent notifications of an environment (of one conversation, if named), newest first. */
export async function peekNotifications(
  runtime: EnvironmentRuntime,
  conversationId: string | undefined,
): Promise<NotificationView[]> {
  const views = (await peek(runtime, "notificationsRecent")).flatMap(({ message }) => {
    const parsed = notificationSchema.safeParse(safeJson(message?.data));
    if (!parsed.success) return [];
    const n = parsed.data;
    return [{ message_id: String(message?.messageId ?? ""), id: n.id, type: n.type, subject: n.subject, time: n.time }];
  });
  return views
    .filter((v) => conversationId === undefined || v.subject === conversationId)
    .sort((a, b) => (a.time < b.time ? 1 : -1));
}

function safeJson(data: Uint8Array | string | null | undefined): unknown {
  try {
    return JSON.parse(Buffer.from(data ?? "").toString("utf8"));
  } catch {
    return undefined;
  }
}

/** The messages waiting in an environment's dead-letter store, read without removing them. */
export async function peekDeadLetters(runtime: EnvironmentRuntime): Promise<DeadLetterView[]> {
  return (await peek(runtime, "deadLetter")).map(({ message }) => {
    const attributes = message?.attributes ?? {};
    const seconds = Number(message?.publishTime?.seconds ?? Number.NaN);
    return {
      message_id: String(message?.messageId ?? ""),
      publish_time: Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : null,
      rejection_reason: attributes.rejection_reason ?? null,
      rejection_detail: attributes.rejection_detail ?? null,
      rejected_by: attributes.rejected_by ?? null,
      conversation_id: attributes.conversation_id ?? null,
      environment: attributes.environment ?? null,
      bytes: message?.data?.length ?? 0,
    };
  });
}

const tokenRequestSchema = z.object({ env: z.string().min(1).max(64), user: userIdSchema });

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".wav": "audio/wav",
};

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(payload);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 16 * 1024) throw new Error("request body too large");
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

/** The console's configuration: environment names and public URLs, never keys. Pure. */
export function consoleConfig(environments: readonly ConsoleEnvironment[]) {
  return {
    mode: "local" as const,
    envs: environments.map((e) => ({ name: e.name, ingress_url: e.ingress_url, api_url: e.api_url })),
  };
}

function serveStatic(res: http.ServerResponse, pathname: string): void {
  const relative = path.normalize(decodeURIComponent(pathname)).replace(/^(\.\.[/\\])+/, "");
  let file = path.join(LOCAL_BUILD_DIR, relative);
  if (!file.startsWith(LOCAL_BUILD_DIR) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    file = path.join(LOCAL_BUILD_DIR, "index.html"); // the console routes in the page
  }
  const body = fs.readFileSync(file);
  res.writeHead(200, {
    "content-type": CONTENT_TYPES[path.extname(file)] ?? "application/octet-stream",
    "cache-control": file.endsWith("index.html") ? "no-store" : "public, max-age=31536000, immutable",
  });
  res.end(body);
}

type EnvironmentRead = (
  env: ConsoleEnvironment,
  runtime: EnvironmentRuntime,
  params: URLSearchParams,
) => Promise<unknown>;

/** The `GET /local/...?env=` reads of an environment running in this stack. */
const READS = new Map<string, EnvironmentRead>([
  [
    "/local/dead-letters",
    async (env, runtime): Promise<DeadLettersAnswer> => ({
      environment: env.name,
      dead_letters: await peekDeadLetters(runtime),
    }),
  ],
  ["/local/overview", (env, runtime) => overview(env, runtime, peek)],
  [
    "/local/notifications",
    async (env, runtime, params): Promise<NotificationsAnswer> => ({
      environment: env.name,
      notifications: await peekNotifications(runtime, params.get("conversation") ?? undefined),
    }),
  ],
]);

export async function startConsoleServer(options: ConsoleServerOptions): Promise<RunningService> {
  const { logger } = options;
  const byName = new Map(options.environments.map((e) => [e.name, e]));
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://console.invalid");
    if (url.pathname === "/config.json") {
      send(res, 200, consoleConfig(options.environments));
      return;
    }
    if (url.pathname === "/local/token" && req.method === "POST") {
      const parsed = tokenRequestSchema.safeParse(await readJson(req).catch(() => undefined));
      if (!parsed.success) {
        send(res, 400, { error: { code: "bad_request", message: 'send {"env": NAME, "user": USER_ID}' } });
        return;
      }
      const env = byName.get(parsed.data.env);
      if (!env) {
        send(res, 404, { error: { code: "not_found", message: `no environment ${parsed.data.env} on this stack` } });
        return;
      }
      send(res, 200, { token: await signAccessToken(env.token_secret, parsed.data.user), user: parsed.data.user });
      return;
    }
    const read = READS.get(url.pathname);
    if (read !== undefined) {
      const env = byName.get(url.searchParams.get("env") ?? "");
      if (!env?.runtime) {
        send(res, 404, { error: { code: "not_found", message: "no such environment on this stack" } });
        return;
      }
      send(res, 200, await read(env, env.runtime, url.searchParams));
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, 405, { error: { code: "method_not_allowed", message: "use GET" } });
      return;
    }
    serveStatic(res, url.pathname);
  };
  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error({ err: error, path: requestPath(req.url) }, "console request failed");
      if (!res.headersSent) send(res, 500, { error: { code: "internal", message: "internal error" } });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${options.host}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The console for a running local stack: built if needed, every environment of the stack, its URL. */
export async function startConsoleForStack(
  stack: Pick<RunningStack, "state" | "runtimes" | "ingressInstances" | "workerUrls">,
  listen: { host: string; port: number; logger: Logger },
): Promise<RunningService> {
  await ensureConsoleBuilt(listen.logger);
  return startConsoleServer({
    host: listen.host,
    port: listen.port,
    logger: listen.logger,
    environments: Object.entries(stack.state.envs).map(([name, env]) => ({
      name,
      ingress_url: env.ingress_url,
      api_url: env.api_url,
      token_secret: env.token_secret,
      runtime: stack.runtimes.get(name as EnvironmentName),
      ingress: () => {
        const instances = stack.ingressInstances(name as EnvironmentName);
        return instances.length > 0 ? instances : [{ pid: null, url: env.ingress_url }];
      },
      workerUrls: () => stack.workerUrls(name as EnvironmentName),
    })),
  });
}
