/**
 * `npm run smoke`: the platform team's end-to-end check after `pulumi up` (and against the
 * local stack). Streams a short synthetic two-speaker conversation with disconnects,
 * checks byte-exact playback, segments, extraction reaching `done`, deletes the conversation
 * (404 after, profiles without its samples, resume refused with 4410), and that another
 * environment refuses this one's resume token with 4409; prints a pass/fail table with
 * timings and exits non-zero on failure. The checks are in scripts/smoke-checks.ts.
 *
 *   npm run smoke -- --state-file .tether/state.json --env staging --other-env prod
 *   npm run smoke -- --env staging --ingress-url wss://…/v1/listen --api-url https://… \
 *     --token-command "…prints an access token…" --other-env prod --other-ingress-url wss://…/v1/listen
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import { promisify } from "node:util";
import { z } from "zod";
import { signAccessToken } from "../shared/auth";
import { parseCliOptions, UsageError } from "./cli-options";
import { formatReport, runSmoke, type SmokeTarget } from "./smoke-checks";

const USAGE = `Usage: npm run smoke -- --env NAME --other-env NAME [options]

Checks one tether environment end to end: a synthetic two-speaker conversation streamed
with disconnects plays back byte-exact, has its segments, finishes speaker extraction,
and its resume token is refused by the other environment with 4409.

The environments:
  --env NAME                the environment to check (the name it must report)
  --other-env NAME          another environment, which must refuse this one's resume token
  --state-file PATH         the file \`npm start -- --state-file PATH\` wrote: URLs and local token keys
  --ingress-url URL         the ingress (wss://HOST/v1/listen), e.g. \`pulumi stack output ingressUrl\`
  --api-url URL             the HTTP API, e.g. \`pulumi stack output apiUrl\`
  --token JWT               an access token for --env
  --token-command CMD       a shell command printing an access token for --env (run again every 5 minutes)
  --other-ingress-url URL   the other environment's ingress
  --other-token JWT         an access token for --other-env (default: --env's: the refusal comes first)
  --other-token-command CMD
  --user ID                 user id of tokens minted from a state file (default: smoke-test)

Tuning:
  --seconds S               seconds of audio per speaker (default: 12, enough for both to be extracted)
  --timeout S               how long to wait for finalization, and for extraction (default: 180)
  --help`;

const optionsSchema = z.object({
  env: z.string().min(1, { message: "is required" }),
  "other-env": z.string().min(1, { message: "is required" }),
  "state-file": z.string().optional(),
  "ingress-url": z.url().optional(),
  "api-url": z.url().optional(),
  token: z.string().optional(),
  "token-command": z.string().optional(),
  "other-ingress-url": z.url().optional(),
  "other-token": z.string().optional(),
  "other-token-command": z.string().optional(),
  user: z.string().min(1).default("smoke-test"),
  seconds: z.coerce.number().positive().max(120).default(12),
  timeout: z.coerce.number().positive().default(180),
});
type Options = z.infer<typeof optionsSchema>;

const stateSchema = z.object({
  envs: z.record(
    z.string(),
    z.object({ ingress_url: z.string(), api_url: z.string(), token_secret: z.string().optional() }),
  ),
});
type StateEnv = z.infer<typeof stateSchema>["envs"][string];

function readState(file: string): z.infer<typeof stateSchema> {
  try {
    return stateSchema.parse(JSON.parse(fs.readFileSync(file, "utf8")));
  } catch (error) {
    throw new UsageError(`cannot read the state file ${file}: ${(error as Error).message}`);
  }
}

/** Runs a token command through the shell; its trimmed stdout is the token, kept 5 minutes. */
function commandToken(command: string): () => Promise<string> {
  let cached: { token: string; at: number } | undefined;
  return async () => {
    if (cached && Date.now() - cached.at < 5 * 60_000) return cached.token;
    const { stdout } = await promisify(execFile)("/bin/sh", ["-c", command], { timeout: 60_000 });
    const token = stdout.trim();
    if (token === "") throw new Error(`the token command printed nothing: ${command}`);
    cached = { token, at: Date.now() };
    return token;
  };
}

function tokenFor(
  explicit: { token: string | undefined; command: string | undefined },
  stateEnv: StateEnv | undefined,
  user: string,
): (() => Promise<string>) | undefined {
  if (explicit.token !== undefined) {
    const token = explicit.token;
    return async () => token;
  }
  if (explicit.command !== undefined) return commandToken(explicit.command);
  const secret = stateEnv?.token_secret;
  if (secret !== undefined) return () => signAccessToken(secret, user);
  return undefined;
}

function resolveTargets(options: Options): { target: SmokeTarget; other: SmokeTarget } {
  const state = options["state-file"] === undefined ? undefined : readState(options["state-file"]);
  const fromState = (name: string, required: boolean): StateEnv | undefined => {
    if (state === undefined) return undefined;
    const env = state.envs[name];
    if (env === undefined && required) {
      throw new UsageError(
        `the state file has no environment ${name} (it has: ${Object.keys(state.envs).join(", ")}); ` +
          "start the local stack with both, e.g. `npm start -- --envs staging,prod`",
      );
    }
    return env;
  };
  const mine = fromState(options.env, options["ingress-url"] === undefined || options["api-url"] === undefined);
  const theirs = fromState(options["other-env"], options["other-ingress-url"] === undefined);

  const ingressUrl = options["ingress-url"] ?? mine?.ingress_url;
  const apiUrl = options["api-url"] ?? mine?.api_url;
  if (ingressUrl === undefined || apiUrl === undefined)
    throw new UsageError("say where --env is: --state-file PATH, or --ingress-url and --api-url");
  const token = tokenFor({ token: options.token, command: options["token-command"] }, mine, options.user);
  if (token === undefined)
    throw new UsageError(`no access token for ${options.env}: pass --token or --token-command (or a state file)`);

  const otherIngressUrl = options["other-ingress-url"] ?? theirs?.ingress_url;
  if (otherIngressUrl === undefined)
    throw new UsageError("say where --other-env is: --state-file PATH, or --other-ingress-url");
  const otherToken =
    tokenFor({ token: options["other-token"], command: options["other-token-command"] }, theirs, options.user) ?? token;

  return {
    target: { environment: options.env, ingressUrl, apiUrl, token },
    other: {
      environment: options["other-env"],
      ingressUrl: otherIngressUrl,
      apiUrl: theirs?.api_url ?? "",
      token: otherToken,
    },
  };
}

async function main(): Promise<number> {
  let options: Options;
  let targets: ReturnType<typeof resolveTargets>;
  try {
    options = parseCliOptions(process.argv.slice(2), optionsSchema, USAGE);
    targets = resolveTargets(options);
  } catch (error) {
    process.stderr.write(`smoke: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const out = process.stderr;
  out.write(
    `smoke: checking ${targets.target.environment} at ${targets.target.ingressUrl} and ${targets.target.apiUrl}\n`,
  );
  const report = await runSmoke({
    ...targets,
    secondsPerSpeaker: options.seconds,
    timeoutMs: options.timeout * 1000,
    onStep: (step) =>
      out.write(
        `  ${step.ok ? "ok  " : step.ms === 0 ? "skip" : "FAIL"} ${step.name} (${(step.ms / 1000).toFixed(2)} s)\n`,
      ),
  });
  process.stdout.write(`\n${formatReport(report)}\n`);
  if (report.conversationId !== undefined) process.stdout.write(`conversation ${report.conversationId}\n`);
  if (!report.ok) {
    const failures = report.steps.filter((s) => !s.ok && s.ms > 0);
    for (const failed of failures) process.stderr.write(`\nsmoke: FAILED: ${failed.name}: ${failed.detail}\n`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`smoke: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
