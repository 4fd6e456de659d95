/**
 * `npm start`: the whole pipeline on the local emulators (PROTOCOL.md section 5).
 *
 *   npm start -- --envs dev,staging,prod --state-file /tmp/tether.json --idle-timeout 30
 *   npm start -- --envs staging,prod --ingress-instances 2
 *   npm start -- --ingress-instances 2 --max-socket-seconds 20   # goaway and handover every 20 s
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { DEFAULT_CHUNK_SECONDS } from "../shared/config";
import { environmentNameSchema } from "../shared/environment";
import { createLogger } from "../shared/logger";
import { startConsoleForStack } from "./console-server";
import { EmulatorUnavailableError } from "./gcloud-emulator";
import { PortBusyError } from "./ports";
import { type StackState, startLocalStack } from "./stack";

const USAGE = `Usage: npm start -- [options]

  --envs LIST            environments to run side by side (default: dev)
  --state-file PATH      write the stack's URLs, project ids, buckets and token keys here once ready,
                         removed on exit (default: .tether/state.json in the checkout)
  --idle-timeout SECONDS finalize a conversation after this long without audio (default: 120)
  --chunk-seconds N      seconds of audio per durable chunk (default: ${DEFAULT_CHUNK_SECONDS})
  --max-socket-seconds S a socket's maximum life: the ingress sends goaway before it and the client
                         moves to a new socket (default: 3480, as deployed)
  --ingress-instances N  ingress processes per environment behind its ingress_url, as on Cloud Run;
                         a killed one is replaced (default: 1)
  --host HOST            address to listen on (default: 127.0.0.1)
  --base-port PORT       environment i listens on PORT+2i (ingress) and PORT+2i+1 (API) (default: 8700; 0 = any free)
  --pubsub-port PORT     Pub/Sub emulator port (default: 8681)
  --firestore-port PORT  Firestore emulator port (default: 8682)
  --storage-port PORT    Storage emulator port (default: 8683)
  --console-port PORT    the conversation console in the browser (default: base port - 10, any free with --base-port 0)
  --help                 show this text`;

const port = z.coerce.number().int().min(0).max(65535);

/** Where `npm run stream` looks by default (PROTOCOL.md section 5). */
const DEFAULT_STATE_FILE = path.resolve(__dirname, "..", ".tether", "state.json");

const optionsSchema = z.object({
  envs: z
    .string()
    .default("dev")
    .transform((list) =>
      list
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(environmentNameSchema)
        .min(1)
        .refine((names) => new Set(names).size === names.length, { message: "must not repeat an environment" }),
    ),
  "state-file": z.string().min(1).default(DEFAULT_STATE_FILE),
  "idle-timeout": z.coerce.number().positive().default(120),
  "chunk-seconds": z.coerce.number().positive().max(60).optional(),
  "max-socket-seconds": z.coerce.number().positive().optional(),
  "ingress-instances": z.coerce.number().int().min(1).max(16).default(1),
  host: z.string().min(1).default("127.0.0.1"),
  "base-port": port.default(8700),
  "pubsub-port": port.default(8681),
  "firestore-port": port.default(8682),
  "storage-port": port.default(8683),
  "console-port": port.optional(),
});

function fail(message: string): never {
  process.stderr.write(`tether: ${message}\n`);
  process.exit(2);
}

function parseOptions(argv: string[]): z.infer<typeof optionsSchema> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        envs: { type: "string" },
        "state-file": { type: "string" },
        "idle-timeout": { type: "string" },
        "chunk-seconds": { type: "string" },
        "max-socket-seconds": { type: "string" },
        "ingress-instances": { type: "string" },
        host: { type: "string" },
        "base-port": { type: "string" },
        "pubsub-port": { type: "string" },
        "firestore-port": { type: "string" },
        "storage-port": { type: "string" },
        "console-port": { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
    }));
  } catch (error) {
    fail(`${(error as Error).message}\n\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const parsed = optionsSchema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(`--${String(issue?.path[0] ?? "?")} ${issue?.message ?? "is invalid"}\n\n${USAGE}`);
  }
  return parsed.data;
}

function summary(state: StackState & { console_url?: string }, stateFile: string): string {
  const lines = ["", "tether is running on the local emulators.", ""];
  for (const [name, env] of Object.entries(state.envs)) {
    lines.push(`  ${name}`);
    lines.push(`    ingress   ${env.ingress_url}`);
    for (const instance of env.ingress_instances ?? []) {
      lines.push(`      instance  pid ${instance.pid}  ${instance.url}`);
    }
    lines.push(`    api       ${env.api_url}`);
    lines.push(`    project   ${env.project_id}`);
    lines.push(`    bucket    ${env.bucket}`);
  }
  lines.push("");
  lines.push(
    `  emulators  pubsub ${state.emulators.pubsub}  firestore ${state.emulators.firestore}  storage ${state.emulators.storage}`,
  );
  if (state.console_url) lines.push(`  console    ${state.console_url}`);
  lines.push(`  state file ${stateFile} (token keys are in it)`);
  const where = stateFile === DEFAULT_STATE_FILE ? "" : ` --state-file ${stateFile}`;
  lines.push(`  stream     npm run stream -- FILE.wav${where}`);
  lines.push(`  demo       npm run stream -- --demo${where}`);
  lines.push("", "Press Ctrl-C to stop everything.", "");
  return lines.join("\n");
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const logger = createLogger();
  const log = logger.child({ component: "local-stack" });
  const started = Date.now();
  let stack: Awaited<ReturnType<typeof startLocalStack>> | undefined;
  let stopConsole: (() => Promise<void>) | undefined;

  let stoppingSince: number | undefined;
  // Only a file this process wrote is removed: a start that fails (ports busy) leaves the
  // running stack's file alone.
  let wroteStateFile = false;
  const removeStateFile = (): void => {
    if (wroteStateFile) fs.rmSync(options["state-file"], { force: true });
  };
  process.on("exit", removeStateFile);
  const shutdown = (signal: string): void => {
    if (stoppingSince !== undefined) {
      // npm forwards the terminal's Ctrl-C, so one key press can arrive twice: only a
      // later, deliberate second Ctrl-C forces the exit. The exit hook still kills the
      // emulators' process groups.
      if (signal === "parent exit" || Date.now() - stoppingSince < 2000) return;
      process.stderr.write("tether: stopping now\n");
      removeStateFile();
      process.exit(1);
    }
    stoppingSince = Date.now();
    process.stderr.write(`\ntether: ${signal} received, stopping (press Ctrl-C again to force)...\n`);
    void (stopConsole?.() ?? Promise.resolve())
      .then(() => stack?.stop())
      .finally(() => {
        removeStateFile();
        process.stderr.write("tether: stopped\n");
        process.exit(0);
      });
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGHUP", () => shutdown("SIGHUP"));
  // If whatever started us (npm, a shell, a test) dies without signalling us, stop too:
  // an orphaned stack would hold the ports and the emulators forever.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) shutdown("parent exit");
  }, 1000).unref();

  try {
    stack = await startLocalStack({
      environments: options.envs,
      host: options.host,
      basePort: options["base-port"],
      emulators: {
        start: {
          pubsub: options["pubsub-port"],
          firestore: options["firestore-port"],
          storage: options["storage-port"],
        },
      },
      idleTimeoutSeconds: options["idle-timeout"],
      chunkSeconds: options["chunk-seconds"],
      maxSocketSeconds: options["max-socket-seconds"],
      ingressInstances: options["ingress-instances"],
      workerProcesses: true,
      logger,
    });
  } catch (error) {
    if (error instanceof PortBusyError || error instanceof EmulatorUnavailableError) fail(error.message);
    throw error;
  }
  if (stoppingSince !== undefined) return;
  const consoleService = await startConsoleForStack(stack, {
    host: options.host,
    port: options["console-port"] ?? (options["base-port"] === 0 ? 0 : Math.max(1, options["base-port"] - 10)),
    logger: log,
  });
  stopConsole = () => consoleService.close();
  const running = stack;
  const state = (): StackState & { console_url: string } => ({ ...running.state, console_url: consoleService.url });
  const file = path.resolve(options["state-file"]);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const writeStateFile = (): void => {
    // Written whole, then renamed: a reader never sees half a file.
    fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(state(), null, 2)}\n`, { mode: 0o600 });
    fs.renameSync(`${file}.tmp`, file);
    wroteStateFile = true;
  };
  writeStateFile();
  // An ingress instance that died and its replacement show in the file as they happen.
  running.onStateChange(() => {
    if (stoppingSince === undefined) writeStateFile();
  });
  process.stdout.write(summary(state(), file));
  log.info({ environments: options.envs, startup_ms: Date.now() - started }, "local stack ready");
}

main().catch((error: unknown) => {
  process.stderr.write(
    `tether: could not start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
