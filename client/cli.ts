/**
 * `npm run stream`: streams a WAV file (or generated speech-like audio) to a tether
 * ingress through the SDK, in real time or faster, showing what is sent, acknowledged and
 * how often it reconnected or was handed over to a new socket (`goaway`); once the conversation is stored, prints the conversation id,
 * its environment and a playback URL that plays as printed.
 *
 *   npm start                                  (in another terminal: writes .tether/state.json)
 *   npm run stream -- recording.wav
 *   npm run stream -- --generate 30 --speed 4 --disconnect-every 5 --env staging
 *   npm run stream -- recording.wav --store .tether/sdk-store   (killed? run it again: it picks up)
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { CODECS, type Codec, type SampleRate } from "../shared/audio-format";
import { signAccessToken } from "../shared/auth";
import { connect, fileStore, resumeStored, TetherError, type TetherSession } from "./index";
import { encodeOpusPackets, OPUS_FRAME_MS } from "./opus-encoder";
import { speechLikePcm } from "./speech-like";
import type { ConversationStorage } from "./store";
import { isSampleRate, readWavFile } from "./wav-file";

const USAGE = `Usage: npm run stream -- [FILE.wav] [options]

Streams FILE.wav (16-bit PCM, mono or stereo, 8/16/24/48 kHz), or generated speech-like
audio, to a tether ingress, and prints the conversation id, environment and playback URL.

Where to stream (one of):
  --state-file PATH       the file \`npm start\` wrote (default: .tether/state.json)
  --env NAME              the environment of the state file to use (default: the only one, else dev, else the first)
  --url URL               an ingress URL (ws://HOST:PORT/v1/listen), with --token or --secret
  --token JWT             an access token
  --secret KEY            mint a token with this HS256 key (local environments)
  --user ID               the user id of a minted token (default: cli-user)
  --api-url URL           the environment's HTTP API, for the playback URL

What to stream:
  --generate SECONDS      generated speech-like audio instead of a file (default: 20 s when no file is given)
  --sample-rate HZ        sample rate of generated audio (default: 16000)
  --codec pcm16|opus      send PCM or Opus packets encoded on the fly (default: pcm16)
  --speed X               1 = real time (default), 4 = four times faster, 0 = as fast as possible
  --disconnect-every S    drop the connection after every S seconds of audio sent (shows resume)
  --conversation-id ID    use this conversation id
  --store DIR             keep unacknowledged audio in DIR (a file store): if the stream is killed,
                          run the same command again and it resumes where the server stopped
  --help`;

const optionsSchema = z.object({
  file: z.string().optional(),
  "state-file": z.string().optional(),
  env: z.string().optional(),
  url: z.string().optional(),
  token: z.string().optional(),
  secret: z.string().optional(),
  user: z.string().min(1).default("cli-user"),
  "api-url": z.string().optional(),
  generate: z.coerce
    .number()
    .positive()
    .max(24 * 3600)
    .optional(),
  "sample-rate": z.coerce
    .number()
    .refine(isSampleRate, { message: "must be 8000, 16000, 24000 or 48000" })
    .default(16000),
  codec: z.enum(CODECS).default("pcm16"),
  speed: z.coerce.number().min(0).default(1),
  "disconnect-every": z.coerce.number().positive().optional(),
  "conversation-id": z.string().optional(),
  store: z.string().min(1).optional(),
});
type Options = z.infer<typeof optionsSchema>;

const stateSchema = z.object({
  envs: z.record(
    z.string(),
    z.object({ ingress_url: z.string(), api_url: z.string().optional(), token_secret: z.string().optional() }),
  ),
});

function fail(message: string): never {
  process.stderr.write(`stream: ${message}\n`);
  process.exit(2);
}

function parseOptions(argv: string[]): Options {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        [...Object.keys(optionsSchema.shape).filter((k) => k !== "file"), "help"].map((k) => [
          k,
          { type: k === "help" ? "boolean" : "string" },
        ]),
      ) as Record<string, { type: "string" | "boolean" }>,
    });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${USAGE}`);
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (parsed.positionals.length > 1) fail(`one file at a time\n\n${USAGE}`);
  const result = optionsSchema.safeParse({ ...parsed.values, file: parsed.positionals[0] });
  if (!result.success) {
    const issue = result.error.issues[0];
    fail(`--${String(issue?.path[0] ?? "?")} ${issue?.message ?? "is invalid"}\n\n${USAGE}`);
  }
  return result.data;
}

interface Target {
  url: string;
  token: (ttlSeconds?: number) => Promise<string>;
  apiUrl: string | undefined;
  /** Whether `token` mints fresh tokens (a local key) or returns the one given. */
  canMint: boolean;
}

/** `npm start` writes its state file here (PROTOCOL.md section 5); npm runs scripts in the checkout. */
const DEFAULT_STATE_FILE = path.join(".tether", "state.json");

/** The environment to use when none is named: the only one, else `dev`, else the first listed. */
function defaultEnvironment(names: readonly string[]): string | undefined {
  if (names.length === 1 || !names.includes("dev")) return names[0];
  return "dev";
}

function resolveTarget(options: Options): Target {
  let url = options.url;
  let secret = options.secret;
  let apiUrl = options["api-url"];
  if (url === undefined) {
    const stateFile = options["state-file"] ?? DEFAULT_STATE_FILE;
    if (!fs.existsSync(stateFile))
      fail(
        options["state-file"] === undefined
          ? `no ${DEFAULT_STATE_FILE} here: start the local stack with \`npm start\` (it writes that file), or pass --state-file PATH, or --url with --token/--secret`
          : `no state file at ${stateFile}`,
      );
    let state: z.infer<typeof stateSchema>;
    try {
      state = stateSchema.parse(JSON.parse(fs.readFileSync(stateFile, "utf8")));
    } catch (error) {
      fail(`cannot read the state file ${stateFile}: ${(error as Error).message}`);
    }
    const names = Object.keys(state.envs);
    const name = options.env ?? defaultEnvironment(names);
    const env = name === undefined ? undefined : state.envs[name];
    if (env === undefined) fail(`the state file has no environment ${name ?? ""} (it has: ${names.join(", ")})`);
    url = env.ingress_url;
    secret ??= env.token_secret;
    apiUrl ??= env.api_url;
  }
  const token = options.token;
  if (token !== undefined) return { url, token: async () => token, apiUrl, canMint: false };
  if (secret === undefined)
    fail("no token: pass --token, or --secret to mint one (a state file carries the local key)");
  const key = secret;
  return { url, token: (ttlSeconds?: number) => signAccessToken(key, options.user, ttlSeconds), apiUrl, canMint: true };
}

/** How long a playback link's token stays valid. */
const PLAYBACK_TOKEN_SECONDS = 3600;

const conversationStatusSchema = z.object({ status: z.string() });

/**
 * Waits until the API reports the conversation `finalized` (every chunk stored), so the
 * playback URL printed next plays the whole recording. Returns false on timeout.
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

/** The playback lines: a URL that plays as printed when a token can be minted for it. */
async function playbackLines(target: Target, conversationId: string, out: NodeJS.WriteStream): Promise<string[]> {
  if (target.apiUrl === undefined)
    return ["playback      pass --api-url (or use a state file) to print the playback URL"];
  const conversationUrl = `${target.apiUrl.replace(/\/$/, "")}/v1/conversations/${encodeURIComponent(conversationId)}`;
  out.write("waiting for the audio to be stored...\n");
  if (!(await waitUntilStored(conversationUrl, await target.token(), 60_000)))
    out.write("the conversation is not finalized yet: the URL plays what is stored so far\n");
  const audioUrl = `${conversationUrl}/audio.wav`;
  if (!target.canMint)
    return [`playback      ${audioUrl}  (send your token as Authorization: Bearer, or add ?access_token=)`];
  const token = await target.token(PLAYBACK_TOKEN_SECONDS);
  out.write(`the playback URL carries a token valid for ${PLAYBACK_TOKEN_SECONDS / 3600} h\n`);
  return [`playback      ${audioUrl}?access_token=${token}`];
}

function loadAudio(options: Options): { pcm: Buffer; sampleRate: SampleRate; source: string } {
  if (options.file !== undefined && options.generate !== undefined) fail("give a file or --generate, not both");
  if (options.file !== undefined) {
    try {
      const wav = readWavFile(options.file);
      return { ...wav, source: options.file };
    } catch (error) {
      fail((error as Error).message);
    }
  }
  const seconds = options.generate ?? 20;
  const sampleRate = options["sample-rate"] as SampleRate;
  return { pcm: speechLikePcm(seconds, sampleRate), sampleRate, source: `${seconds} s of generated speech-like audio` };
}

/** Frames of `frameMs` each (pcm16 byte runs, or one Opus packet per 20 ms). */
function frames(pcm: Buffer, sampleRate: SampleRate, codec: Codec): { frames: Buffer[]; frameMs: number } {
  if (codec === "opus") return { frames: encodeOpusPackets(pcm, sampleRate), frameMs: OPUS_FRAME_MS };
  const frameMs = 100;
  const bytes = ((sampleRate * frameMs) / 1000) * 2;
  const out: Buffer[] = [];
  for (let offset = 0; offset < pcm.length; offset += bytes) out.push(pcm.subarray(offset, offset + bytes));
  return { frames: out, frameMs };
}

function seconds(session: TetherSession, units: number, frameMs: number, sampleRate: SampleRate): string {
  const s = session.positionUnit === "byte" ? units / 2 / sampleRate : (units * frameMs) / 1000;
  return `${s.toFixed(1)} s`;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const target = resolveTarget(options);
  const audio = loadAudio(options);
  const codec = options.codec;
  const { frames: toSend, frameMs } = frames(audio.pcm, audio.sampleRate, codec);

  const out = process.stderr;
  const storage = options.store === undefined ? undefined : fileStore(options.store);
  const resumed = storage ? await resumeFromStore(storage, target, out) : undefined;
  const session =
    resumed ??
    (await connect({
      url: target.url,
      token: target.token,
      codec,
      sampleRate: audio.sampleRate,
      ...(options["conversation-id"] ? { conversationId: options["conversation-id"] } : {}),
      ...(storage ? { storage } : {}),
    }));
  if (resumed && (resumed.codec !== codec || resumed.sampleRate !== audio.sampleRate))
    fail(`the stored conversation is ${resumed.codec} at ${resumed.sampleRate} Hz: run the same command as before`);
  // A resumed stream continues the same audio after what the SDK had accepted.
  const accepted = resumed ? resumed.stats.written : 0;
  const remaining =
    codec === "opus" ? toSend.slice(accepted) : frames(audio.pcm.subarray(accepted), audio.sampleRate, codec).frames;
  if (resumed) out.write(`picking up after ${seconds(resumed, accepted, frameMs, audio.sampleRate)} of the audio\n`);
  out.write(`streaming ${audio.source} as ${codec} at ${audio.sampleRate} Hz to ${session.url}\n`);
  out.write(`conversation ${session.conversationId} on environment ${session.environment}\n`);
  session.on("reconnecting", (e) =>
    out.write(`\n  connection lost (${e.closeCode}); reconnecting in ${e.delayMs} ms to the same URL\n`),
  );
  session.on("goaway", (e) =>
    out.write(
      `\n  goaway (${e.reason}, closes in ${e.closeInMs} ms)${e.handingOver ? ": handing over to a new socket" : ""}\n`,
    ),
  );
  session.on("ready", (e) => {
    const how = e.handover ? "handed over" : "resumed";
    if (e.resumed) out.write(`  ${how} at ${seconds(session, e.position, frameMs, audio.sampleRate)}\n`);
  });

  const progress = () => {
    const s = session.stats;
    const line = `sent ${seconds(session, s.sent, frameMs, audio.sampleRate)} | acked ${seconds(session, s.acked, frameMs, audio.sampleRate)} | reconnects ${s.reconnects} | handovers ${s.handovers}`;
    out.write(out.isTTY ? `\r${line}   ` : `${line}\n`);
  };
  const ticker = setInterval(progress, out.isTTY ? 250 : 2000);

  const started = Date.now();
  const disconnectEveryMs = options["disconnect-every"] === undefined ? undefined : options["disconnect-every"] * 1000;
  let nextDisconnectMs = disconnectEveryMs;
  try {
    for (const [i, frame] of remaining.entries()) {
      const audioMs = (i + 1) * frameMs;
      if (options.speed > 0) {
        const due = started + (i * frameMs) / options.speed;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      await session.write(frame);
      if (nextDisconnectMs !== undefined && disconnectEveryMs !== undefined && audioMs >= nextDisconnectMs) {
        nextDisconnectMs += disconnectEveryMs;
        session.simulateDisconnect();
      }
    }
    const result = await session.finalize();
    clearInterval(ticker);
    progress();
    out.write("\n");
    const playback = await playbackLines(target, result.conversationId, out);
    const lines = [
      `audio         ${seconds(session, result.position, frameMs, audio.sampleRate)} (${result.position} ${session.positionUnit}s), all acknowledged`,
      `reconnects    ${session.stats.reconnects}`,
      `handovers     ${session.stats.handovers}`,
      `conversation  ${result.conversationId}`,
      `environment   ${session.environment}`,
      ...playback,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    process.exit(0);
  } catch (error) {
    clearInterval(ticker);
    throw error;
  }
}

/**
 * `--store`: continues the conversation a killed run left in the store, if any. Others
 * found there are reported: finalized meanwhile, or what the server did not store.
 */
async function resumeFromStore(
  storage: ConversationStorage,
  target: Target,
  out: NodeJS.WriteStream,
): Promise<TetherSession | undefined> {
  const results = await resumeStored(storage, { token: target.token });
  let continued: TetherSession | undefined;
  for (const result of results) {
    if (result.kind === "finalized") {
      out.write(
        `stored conversation ${result.conversationId} was finalized meanwhile with all ${result.position} units stored\n`,
      );
    } else if (result.kind === "failed") {
      const { durablePosition, notStored } = result.error.details;
      out.write(
        `stored conversation ${result.conversationId ?? "(not started)"} cannot resume: ${result.error.message}\n`,
      );
      if (durablePosition !== undefined) out.write(`  stored by the server: units [0, ${durablePosition})\n`);
      if (notStored?.audio) out.write(`  not stored: units [${notStored.audio.from}, ${notStored.audio.to})\n`);
      if (notStored && notStored.messages.length > 0)
        out.write(`  not stored: ${notStored.messages.length} text message(s)\n`);
      out.write("  (the source audio is unchanged: stream it again as a new conversation)\n");
      await result.discard();
    } else if (continued === undefined) {
      out.write(`resuming stored conversation ${result.session.conversationId} at ${result.position}\n`);
      continued = result.session;
    } else {
      out.write(`another stored conversation ${result.session.conversationId} stays in the store for a later run\n`);
      result.session.close();
    }
  }
  return continued;
}

main().catch((error: unknown) => {
  if (error instanceof TetherError) {
    const where = error.details.expectedEnvironment
      ? ` (this conversation belongs to environment ${error.details.expectedEnvironment})`
      : "";
    process.stderr.write(`\nstream: stopped: ${error.code}: ${error.message}${where}\n`);
  } else {
    process.stderr.write(`\nstream: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exit(1);
});
