/**
 * `npm run stream`: streams a WAV file, generated speech-like audio, or the demo (two
 * speakers with segments and person assignments) to a tether ingress through the SDK, in
 * real time or faster, showing what is sent, acknowledged and how often it reconnected or
 * was handed over to a new socket (`goaway`); once the conversation is stored, prints the
 * conversation id, its environment, its console page and a playback command that downloads the WAV as printed.
 *
 *   npm start                                  (in another terminal: writes .tether/state.json)
 *   npm run stream -- --demo
 *   npm run stream -- recording.wav
 *   npm run stream -- --generate 30 --speed 4 --disconnect-every 5 --env staging
 *   npm run stream -- recording.wav --store .tether/sdk-store   (Ctrl-C, then the same command picks up)
 */
import type { SampleRate } from "../shared/audio-format";
import { frames, loadAudio } from "./cli-audio";
import { fail, parseOptions } from "./cli-options";
import { FIRST_CONTACT_MS, leftOpenLines, nothingAnswers } from "./cli-sentences";
import { consoleLink, playbackLines, resolveTarget, StreamUsageError, type Target } from "./cli-target";
import { StatusOutput } from "./cli-terminal";
import { DEMO_SPEED, playDemo } from "./demo-conversation";
import { createSession, fileStore, resumeStored, TetherError, type TetherSession } from "./index";
import type { ConversationStorage } from "./store";

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
