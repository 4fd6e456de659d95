/**
 * Where `npm run stream` streams to and what it prints afterwards: the ingress URL and a
 * token (from `npm start`'s state file, or --url with --token/--secret), the console link
 * of a conversation, and a playback command that downloads the WAV as printed once the audio is stored.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { signAccessToken } from "../shared/auth";

/** A command line or state file the stream cannot use; the message says what to do. */
export class StreamUsageError extends Error {}

export interface TargetOptions {
  readonly "state-file"?: string | undefined;
  readonly env?: string | undefined;
  readonly url?: string | undefined;
  readonly token?: string | undefined;
  readonly secret?: string | undefined;
  readonly user: string;
  readonly "api-url"?: string | undefined;
}

export interface Target {
  readonly url: string;
  readonly token: (ttlSeconds?: number) => Promise<string>;
  readonly apiUrl: string | undefined;
  /** Whether `token` mints fresh tokens (a local key) or returns the one given. */
  readonly canMint: boolean;
  /** The local console (`npm start` serves it), when the target came from a state file. */
  readonly consoleUrl: string | undefined;
  /** Whether the URL came from the local stack's state file (then `npm start` is the fix when nothing answers). */
  readonly fromStateFile: boolean;
  /** The user a minted token names: the console can act as that user. */
  readonly user: string | undefined;
}

const stateSchema = z.object({
  envs: z.record(
    z.string(),
    z.object({ ingress_url: z.string(), api_url: z.string().optional(), token_secret: z.string().optional() }),
  ),
  console_url: z.string().optional(),
});

/** `npm start` writes its state file here (PROTOCOL.md section 5); npm runs scripts in the checkout. */
export const DEFAULT_STATE_FILE = path.join(".tether", "state.json");

/** The environment to use when none is named: the only one, else `dev`, else the first listed. */
function defaultEnvironment(names: readonly string[]): string | undefined {
  if (names.length === 1 || !names.includes("dev")) return names[0];
  return "dev";
}

export function resolveTarget(options: TargetOptions): Target {
  let url = options.url;
  let secret = options.secret;
  let apiUrl = options["api-url"];
  let consoleUrl: string | undefined;
  if (url === undefined) {
    const stateFile = options["state-file"] ?? DEFAULT_STATE_FILE;
    if (!fs.existsSync(stateFile))
      throw new StreamUsageError(
        options["state-file"] === undefined
          ? `no ${DEFAULT_STATE_FILE} here: start the local stack with \`npm start\` (it writes that file), or pass --state-file PATH, or --url with --token/--secret`
          : `no state file at ${stateFile}`,
      );
    let state: z.infer<typeof stateSchema>;
    try {
      state = stateSchema.parse(JSON.parse(fs.readFileSync(stateFile, "utf8")));
    } catch (error) {
      throw new StreamUsageError(`cannot read the state file ${stateFile}: ${(error as Error).message}`);
    }
    const names = Object.keys(state.envs);
    const name = options.env ?? defaultEnvironment(names);
    const env = name === undefined ? undefined : state.envs[name];
    if (env === undefined)
      throw new StreamUsageError(`the state file has no environment ${name ?? ""} (it has: ${names.join(", ")})`);
    url = env.ingress_url;
    secret ??= env.token_secret;
    apiUrl ??= env.api_url;
    consoleUrl = state.console_url;
  }
  const common = { url, apiUrl, consoleUrl, fromStateFile: options.url === undefined };
  const token = options.token;
  if (token !== undefined) return { ...common, token: async () => token, canMint: false, user: undefined };
  if (secret === undefined)
    throw new StreamUsageError("no token: pass --token, or --secret to mint one (a state file carries the local key)");
  const key = secret;
  return {
    ...common,
    token: (ttlSeconds?: number) => signAccessToken(key, options.user, ttlSeconds),
    canMint: true,
    user: options.user,
  };
}

/**
 * The console page of a conversation: the console's address keeps everything in its query
 * (console/src/route.ts), `user` only when the console can act as the token's user.
 */
export function consoleLink(target: Target, environment: string, conversationId: string): string | undefined {
  if (target.consoleUrl === undefined) return undefined;
  const query = new URLSearchParams({ env: environment });
  if (target.user !== undefined) query.set("user", target.user);
  query.set("view", "conversation");
  query.set("id", conversationId);
  return `${target.consoleUrl.replace(/\?.*$/, "")}?${query.toString()}`;
}

/** How long the playback command's token stays valid. */
const PLAYBACK_TOKEN_SECONDS = 3600;

const conversationStatusSchema = z.object({ status: z.string() });

/**
 * Waits until the API reports the conversation `finalized` (every chunk stored), so the
 * playback command printed next downloads the whole recording. Returns false on timeout.
 */
async function waitUntilStored(conversationUrl: string, token: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(conversationUrl, { headers: { authorization: `Bearer ${token}` } }).catch(
      () => undefined,
    );
    if (response?.ok) {
      const body = conversationStatusSchema.safeParse(await response.json().catch(() => undefined));
      if (body.success && body.data.status === "finalized") return true;
    }
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The playback line: a command that downloads the WAV as printed, its token in a header, never in the URL. */
export async function playbackLines(
  target: Target,
  conversationId: string,
  say: (message: string) => void,
): Promise<string[]> {
  if (target.apiUrl === undefined)
    return ["playback      pass --api-url (or use a state file) to print the playback command"];
  const conversationUrl = `${target.apiUrl.replace(/\/$/, "")}/v1/conversations/${encodeURIComponent(conversationId)}`;
  say("waiting for the audio to be stored...");
  if (!(await waitUntilStored(conversationUrl, await target.token(), 60_000)))
    say("the conversation is not finalized yet: the URL plays what is stored so far");
  const download = (bearer: string): string =>
    `curl -fsS -H "Authorization: Bearer ${bearer}" -o ${conversationId}.wav ${conversationUrl}/audio.wav`;
  if (!target.canMint) return [`playback      ${download("$TOKEN")}  (your access token in $TOKEN)`];
  const token = await target.token(PLAYBACK_TOKEN_SECONDS);
  say(`the playback command carries a token valid for ${PLAYBACK_TOKEN_SECONDS / 3600} h, in a header`);
  return [`playback      ${download(token)}`];
}
