/**
 * A Node process that streams a WAV through the SDK with a file store, for the test that
 * SIGKILLs it mid-stream (test/integration/client-store-restart.test.ts).
 *
 *   stream URL SECRET WAV STORE   streams in 100 ms frames, one segment per second of
 *                                 audio, and never finalizes (it is killed)
 *   resume URL SECRET WAV STORE   `resumeStored`, writes the rest of the WAV, finalizes
 *
 * Each line on stdout is JSON: {"ready"}, {"written","sent","acked"} after each write,
 * {"segment"} after a segment was handed to the SDK, {"resumed"}, {"finalized"}.
 */
import { connect, fileStore, resumeStored, type TetherSession } from "../../client/index";
import { readWavFile } from "../../client/wav-file";
import { signAccessToken } from "../../shared/auth";

const FRAME_BYTES = 3200;

function say(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function streamFrom(session: TetherSession, pcm: Buffer, from: number, bytesPerSecond: number): Promise<void> {
  for (let offset = from; offset < pcm.length; offset += FRAME_BYTES) {
    const end = Math.min(pcm.length, offset + FRAME_BYTES);
    await session.write(pcm.subarray(offset, end));
    const s = session.stats;
    say({ written: s.written, sent: s.sent, acked: s.acked });
    if (Math.floor(end / bytesPerSecond) !== Math.floor(offset / bytesPerSecond)) {
      const second = Math.floor(end / bytesPerSecond);
      const id = `seg-${second}`;
      session.sendSegments([{ id, start: second - 1, end: second, text: `second ${second}` }]);
      say({ segment: id });
    }
    await new Promise((resolve) => setTimeout(resolve, 4)); // let acks arrive in between
  }
}

async function main(): Promise<void> {
  const [mode, url, secret, wavPath, storeDir] = process.argv.slice(2);
  if (!mode || !url || !secret || !wavPath || !storeDir) throw new Error("usage: MODE URL SECRET WAV STORE");
  const wav = readWavFile(wavPath);
  const bytesPerSecond = wav.sampleRate * 2;
  const token = () => signAccessToken(secret, "store-restart-user");
  const storage = fileStore(storeDir, { fsyncEveryMs: 50 });
  if (mode === "stream") {
    const session = await connect({ url, token, codec: "pcm16", sampleRate: wav.sampleRate, storage });
    say({ ready: session.conversationId });
    await streamFrom(session, wav.pcm, 0, bytesPerSecond);
    await new Promise(() => undefined); // holds on until killed
  }
  const results = await resumeStored(storage, { token });
  if (results.length !== 1) throw new Error(`expected one stored conversation, found ${results.length}`);
  const result = results[0];
  if (result?.kind !== "resumed")
    throw new Error(`not resumed: ${result?.kind} ${result?.kind === "failed" ? result.error.message : ""}`);
  const session = result.session;
  say({ resumed: session.conversationId, position: result.position, written: session.stats.written });
  await streamFrom(session, wav.pcm, session.stats.written, bytesPerSecond);
  const finalized = await session.finalize();
  say({ finalized: finalized.conversationId, position: finalized.position, left: (await storage.list()).length });
  // The exit code is this child's verdict, read by client-store-restart.test.ts (a process exit, not a skipped test).
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  // A non-zero exit fails the resuming step in client-store-restart.test.ts (a process exit, not a skipped test).
  process.exit(1);
});
