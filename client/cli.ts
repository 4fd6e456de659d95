/**
 * `npm run stream`: streams a WAV file, generated speech-like audio, or the demo (two
 * speakers with segments and person assignments) to a tether ingress through the SDK, in
 * real time or faster, showing what is sent, acknowledged and how often it reconnected or
 * was handed over to a new socket (`goaway`); once the conversation is stored, prints the
 * conversation id, its environment, its console page and a playback URL that plays as printed.
 *
 *   npm start                                  (in another terminal: writes .tether/state.json)
 *   npm run stream -- --demo
 *   npm run stream -- recording.wav
 *   npm run stream -- --generate 30 --speed 4 --disconnect-every 5 --env staging
 *   npm run stream -- recording.wav --store .tether/sdk-store   (Ctrl-C, then the same command picks up)
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { CODECS, type Codec, type SampleRate } from "../shared/audio-format";
import { FIRST_CONTACT_MS, leftOpenLines, nothingAnswers } from "./cli-sentences";
import { consoleLink, playbackLines, resolveTarget, StreamUsageError, type Target } from "./cli-target";
import { StatusOutput } from "./cli-terminal";
import { DEMO_SAMPLE_RATE, DEMO_SPEED, type DemoPlan, playDemo } from "./demo-conversation";
import { loadDemoPlan } from "./demo-voices";
import { createSession, fileStore, resumeStored, TetherError, type TetherSession } from "./index";
import { speechLikePcm } from "./speech-like";
import type { ConversationStorage } from "./store";
import { isSampleRate, readWavFile } from "./wav-file";

const USAGE = `Usage: npm run stream -- [FILE.wav] [options]

Streams FILE.wav (16-bit PCM, mono or stereo, 8/16/24/48 kHz), generated speech-like
audio, or the demo, to a tether ingress, and prints the conversation id, environment,
console page and playback URL.

Where to stream (one of):
  --state-file PATH       the file \`npm start\` wrote (default: .tether/state.json)
  --env NAME              the environment of the state file to use (default: the only one, else dev, else the first)
  --url URL               an ingress URL (ws://HOST:PORT/v1/listen), with --token or --secret
  --token JWT             an access token
  --secret KEY            mint a token with this HS256 key (local environments)
  --user ID               the user id of a minted token (default: cli-user)
  --api-url URL           the environment's HTTP API, for the playback URL

What to stream:
  --demo                  a 25 s conversation of two speakers, with transcript segments and
                          person assignments, so the console's segments and extraction fill up
  --generate SECONDS      generated speech-like audio instead of a file (default: 20 s when no file is given)
  --sample-rate HZ        sample rate of generated audio (default: 16000)
  --codec pcm16|opus      send PCM or Opus packets encoded on the fly (default: pcm16)
  --speed X               1 = real time (default; the demo: 4), 4 = four times faster, 0 = as fast as possible
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
  speed: z.coerce.number().min(0).optional(),
  demo: z.boolean().default(false),
  "disconnect-every": z.coerce.number().positive().optional(),
  "conversation-id": z.string().optional(),
  store: z.string().min(1).optional(),
});
type Options = z.infer<typeof optionsSchema>;

function fail(message: string): never {
  process.stderr.write(`stream: ${message}\n`);
  process.exit(2);
}

const BOOLEAN_OPTIONS = new Set(["help", "demo"]);

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
          { type: BOOLEAN_OPTIONS.has(k) ? "boolean" : "string" },
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

interface Audio {
  readonly pcm: Buffer;
  readonly sampleRate: SampleRate;
  readonly source: string;
  /** The demo's segments and assignments, when streaming the demo. */
  readonly demo?: DemoPlan;
}

function loadAudio(options: Options): Audio {
  if (options.demo) {
    if (options.file !== undefined || options.generate !== undefined)
      fail("--demo streams its own conversation: give no file and no --generate");
    if (options.codec !== "pcm16") fail("--demo streams pcm16: leave --codec out");
    let demo: DemoPlan;
    try {
      demo = loadDemoPlan();
    } catch (error) {
      fail((error as Error).message);
    }
    return {
      pcm: Buffer.from(demo.pcm.buffer, demo.pcm.byteOffset, demo.pcm.length),
      sampleRate: DEMO_SAMPLE_RATE,
      source: `the demo (${demo.seconds} s, two speakers)`,
      demo,
    };
  }
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
async function frames(
  pcm: Buffer,
  sampleRate: SampleRate,
  codec: Codec,
): Promise<{ frames: Buffer[]; frameMs: number }> {
  if (codec === "opus") {
    // Loaded only for Opus: libopus in wasm takes a second to load, before "connecting…".
    const { encodeOpusPackets, OPUS_FRAME_MS } = await import("./opus-encoder");
    return { frames: encodeOpusPackets(pcm, sampleRate), frameMs: OPUS_FRAME_MS };
  }
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

/** The conversation id and environment once the server named them (`ready`), else undefined. */
function pinned(session: TetherSession | undefined): { conversationId?: string; environment?: string } {
  try {
    return session ? { conversationId: session.conversationId, environment: session.environment } : {};
  } catch {
    return {};
  }
}

/**
 * The first connection gets FIRST_CONTACT_MS: past that, the stream stops with a sentence
 * that says what to run, instead of the SDK's minutes of retries (which stay for later drops).
 */
function watchFirstContact(target: Target, status: StatusOutput) {
  let attempts = 1;
  let lastFailure: string | undefined;
  const timer = setTimeout(() => {
    status.endProgress();
    status.say(
      `stream: ${nothingAnswers({ url: target.url, attempts, lastFailure, fromStateFile: target.fromStateFile })}`,
    );
    process.exit(1);
  }, FIRST_CONTACT_MS);
  return {
    failed(closeCode: number, reason: string, delayMs: number): void {
      attempts += 1;
      lastFailure = reason
        ? `${closeCode} ${reason}`
        : closeCode === 1006
          ? "no WebSocket connection"
          : `closed with ${closeCode}`;
      status.say(`  ${lastFailure}; trying again in ${(delayMs / 1000).toFixed(1)} s`);
    },
    done: () => clearTimeout(timer),
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const options = parseOptions(args);
  let target: Target;
  try {
    target = resolveTarget(options);
  } catch (error) {
    if (error instanceof StreamUsageError) fail(error.message);
    throw error;
  }
  const audio = loadAudio(options);
  const codec = options.codec;
  const speed = options.speed ?? (audio.demo ? DEMO_SPEED : 1);
  const { frames: toSend, frameMs } = await frames(audio.pcm, audio.sampleRate, codec);
  const status = new StatusOutput(process.stderr);
  const storage = options.store === undefined ? undefined : fileStore(options.store);

  // Ctrl-C says what it leaves open, and how to go on.
  let current: TetherSession | undefined;
  let finalizing = false;
  let finished = false;
  process.once("SIGINT", () => {
    status.endProgress();
    const s = current;
    const lines = finished
      ? ["stopped (Ctrl-C): the conversation is finalized, nothing was left open."]
      : leftOpenLines({
          ...pinned(s),
          acked: s ? seconds(s, s.stats.acked, frameMs, audio.sampleRate) : "0 s",
          written: s ? seconds(s, s.stats.written, frameMs, audio.sampleRate) : "0 s",
          store: options.store,
          finalizing,
          args,
        });
    for (const line of lines) status.say(line);
    process.exit(130);
  });

  status.say(`connecting to ${target.url}…`);
  const firstContact = watchFirstContact(target, status);
  let session: TetherSession;
  const resumed = storage ? await resumeFromStore(storage, target, status) : undefined;
  if (resumed) {
    session = resumed;
  } else {
    session = await createSession({
      url: target.url,
      token: target.token,
      codec,
      sampleRate: audio.sampleRate,
      ...(options["conversation-id"] ? { conversationId: options["conversation-id"] } : {}),
      ...(storage ? { storage } : {}),
    });
    current = session;
    const beforeReady = (e: { closeCode: number; reason: string; delayMs: number }) =>
      firstContact.failed(e.closeCode, e.reason, e.delayMs);
    session.on("reconnecting", beforeReady);
    await session.start();
    session.off("reconnecting", beforeReady);
  }
  current = session;
  firstContact.done();
  if (resumed && (resumed.codec !== codec || resumed.sampleRate !== audio.sampleRate))
    fail(`the stored conversation is ${resumed.codec} at ${resumed.sampleRate} Hz: run the same command as before`);
  const secondsOf = (units: number) => seconds(session, units, frameMs, audio.sampleRate);
  // A resumed stream continues the same audio after what the SDK had accepted.
  const accepted = resumed ? resumed.stats.written : 0;
  if (resumed) status.say(`picking up after ${secondsOf(accepted)} of the audio`);
  status.say(
    `streaming ${audio.source} as ${codec} at ${audio.sampleRate} Hz${speed === 1 ? "" : speed === 0 ? ", as fast as possible" : `, ${speed}x real time`}`,
  );
  status.say(`conversation ${session.conversationId} on environment ${session.environment}`);
  const link = consoleLink(target, session.environment, session.conversationId);
  if (link) status.say(`console page ${link}`);
  session.on("reconnecting", (e) =>
    status.say(`  connection lost (${e.closeCode}); reconnecting in ${e.delayMs} ms to the same URL`),
  );
  session.on("goaway", (e) =>
    status.say(
      `  goaway (${e.reason}, closes in ${e.closeInMs} ms)${e.handingOver ? ": handing over to a new socket" : ""}`,
    ),
  );
  session.on("ready", (e) => {
    const how = e.handover ? "handed over" : "resumed";
    if (e.resumed) status.say(`  ${how} at ${secondsOf(e.position)}`);
  });

  const progress = (force = false) => {
    const s = session.stats;
    status.progress(
      `sent ${secondsOf(s.sent)} | acked ${secondsOf(s.acked)} | reconnects ${s.reconnects} | handovers ${s.handovers}`,
      force,
    );
  };
  const ticker = setInterval(progress, 250);

  // --disconnect-every: drop the socket each time that much more audio was written.
  const everyMs = options["disconnect-every"] === undefined ? undefined : options["disconnect-every"] * 1000;
  let nextDisconnectMs = everyMs;
  const write = async (frame: Uint8Array) => {
    await session.write(frame);
    const writtenMs =
      session.positionUnit === "byte"
        ? (session.stats.written / 2 / audio.sampleRate) * 1000
        : session.stats.written * frameMs;
    if (nextDisconnectMs !== undefined && everyMs !== undefined && writtenMs >= nextDisconnectMs) {
      nextDisconnectMs += everyMs;
      session.simulateDisconnect();
    }
  };
  try {
    if (audio.demo) {
      const demoSession = {
        write,
        sendSegments: session.sendSegments.bind(session),
        assignSpeaker: session.assignSpeaker.bind(session),
      };
      await playDemo(demoSession, audio.demo, { speed, from: accepted });
    } else {
      const remaining =
        codec === "opus"
          ? toSend.slice(accepted)
          : (await frames(audio.pcm.subarray(accepted), audio.sampleRate, codec)).frames;
      const started = Date.now();
      for (const [i, frame] of remaining.entries()) {
        if (speed > 0) {
          const wait = started + (i * frameMs) / speed - Date.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        }
        await write(frame);
      }
    }
    finalizing = true;
    const result = await session.finalize();
    finished = true;
    clearInterval(ticker);
    progress(true);
    status.endProgress();
    const playback = await playbackLines(target, result.conversationId, (m) => status.say(m));
    const lines = [
      `audio         ${secondsOf(result.position)} (${result.position} ${session.positionUnit}s), all acknowledged`,
      ...(audio.demo
        ? [`demo          ${audio.demo.cues.length} segments of 2 speakers, assigned to demo-alan and demo-sara`]
        : []),
      `reconnects    ${session.stats.reconnects}`,
      `handovers     ${session.stats.handovers}`,
      ...(link ? [`console       ${link}`] : []),
      `conversation  ${result.conversationId}`,
      `environment   ${session.environment}`,
      ...playback,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    process.exit(0);
  } catch (error) {
    clearInterval(ticker);
    status.endProgress();
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
  status: StatusOutput,
): Promise<TetherSession | undefined> {
  const results = await resumeStored(storage, { token: target.token });
  let continued: TetherSession | undefined;
  for (const result of results) {
    if (result.kind === "finalized") {
      status.say(
        `stored conversation ${result.conversationId} was finalized meanwhile with all ${result.position} units stored`,
      );
    } else if (result.kind === "failed") {
      const { durablePosition, notStored } = result.error.details;
      status.say(
        `stored conversation ${result.conversationId ?? "(not started)"} cannot resume: ${result.error.message}`,
      );
      if (durablePosition !== undefined) status.say(`  stored by the server: units [0, ${durablePosition})`);
      if (notStored?.audio) status.say(`  not stored: units [${notStored.audio.from}, ${notStored.audio.to})`);
      if (notStored && notStored.messages.length > 0)
        status.say(`  not stored: ${notStored.messages.length} text message(s)`);
      status.say("  (the source audio is unchanged: stream it again as a new conversation)");
      await result.discard();
    } else if (continued === undefined) {
      status.say(`resuming stored conversation ${result.session.conversationId} at ${result.position}`);
      continued = result.session;
    } else {
      status.say(`another stored conversation ${result.session.conversationId} stays in the store for a later run`);
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
