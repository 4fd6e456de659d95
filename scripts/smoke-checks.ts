/**
 * The checks of `npm run smoke` (scripts/smoke.ts): does a freshly deployed environment
 * do end to end what tether promises?
 *
 * One short synthetic two-speaker conversation goes through the client SDK with the
 * socket dropped in the middle and the session closed and resumed cold (as an app
 * restart would); then the environment must play the audio back byte-exact, list the
 * segments with the speaker assigned in the last session, finish speaker extraction
 * (`done`), and another environment must refuse this environment's resume token with 4409.
 *
 * Every step is timed and reported; the first failure stops the steps that depend on it.
 * Nothing here assumes timing: status and extraction are polled until a deadline.
 */
import { connect, TetherError, type TetherSession } from "../client/index";
import { speechLikePcm } from "../client/speech-like";
import { decodePcm16MonoWav } from "../shared/wav";

export const SAMPLE_RATE = 16000;
const BYTES_PER_SECOND = SAMPLE_RATE * 2;
const FRAME_BYTES = BYTES_PER_SECOND / 10; // 100 ms

/** One environment as the smoke test reaches it. */
export interface SmokeTarget {
  /** The environment name it must report (`ready.environment`, the API's `environment`). */
  readonly environment: string;
  readonly ingressUrl: string;
  readonly apiUrl: string;
  /** An access token for the ingress and the API (called again when one may have expired). */
  readonly token: () => Promise<string>;
}

export interface SmokeOptions {
  readonly target: SmokeTarget;
  /** The environment that must refuse the target's resume token. */
  readonly other: SmokeTarget;
  /** Seconds of audio per speaker. */
  readonly secondsPerSpeaker: number;
  /** How long to wait for finalization and for extraction, each. */
  readonly timeoutMs: number;
  /** Called as each step ends, for live output. */
  readonly onStep?: (step: StepResult) => void;
}

export interface StepResult {
  readonly name: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly detail: string;
}

export interface SmokeReport {
  readonly ok: boolean;
  readonly conversationId: string | undefined;
  readonly steps: readonly StepResult[];
}

class StepFailure extends Error {}

function fail(message: string): never {
  throw new StepFailure(message);
}

/**
 * Opens a PCM16 16 kHz session on `target` as the scripts stream: reconnecting fast (50 ms
 * doubling to 1 s), since they drop sockets on purpose. `random` drives the backoff jitter.
 */
export function connectPcm16(target: SmokeTarget, random?: () => number): Promise<TetherSession> {
  return connect({
    url: target.ingressUrl,
    token: target.token,
    codec: "pcm16",
    sampleRate: SAMPLE_RATE,
    backoff: { initialDelayMs: 50, maxDelayMs: 1000 },
    ...(random === undefined ? {} : { random }),
  });
}

/** The conversation: speaker A, then speaker B (distinct synthetic voices), PCM16 at 16 kHz. */
export function twoSpeakerAudio(secondsPerSpeaker: number): Buffer {
  return Buffer.concat([
    speechLikePcm(secondsPerSpeaker, SAMPLE_RATE, 11),
    speechLikePcm(secondsPerSpeaker, SAMPLE_RATE, 29),
  ]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function poll<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) fail(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what()}`);
    await sleep(500);
  }
}

interface ConversationStatus {
  readonly id: string;
  readonly environment: string;
  readonly status: string;
  readonly position: number;
  readonly segments: number;
  readonly extraction: {
    readonly status: string;
    readonly people: ReadonlyArray<{ person_id: string; status: string; reason?: string }>;
  };
}

async function api(target: SmokeTarget, path: string, method = "GET"): Promise<Response> {
  const response = await rawApi(target, path, method);
  if (!response.ok) {
    const body = await response.text().catch(() => "");
    fail(`${method} ${path} answered ${response.status}: ${body.slice(0, 200)}`);
  }
  return response;
}

/** The answer whatever its status (a deleted conversation's is 404). */
async function rawApi(target: SmokeTarget, path: string, method = "GET"): Promise<Response> {
  return await fetch(`${target.apiUrl.replace(/\/$/, "")}${path}`, {
    method,
    headers: { authorization: `Bearer ${await target.token()}` },
  });
}

/** Waits until every byte written is acknowledged by the server. */
async function allAcked(session: TetherSession, bytes: number, timeoutMs: number): Promise<void> {
  await poll(
    async () => (session.stats.acked >= bytes ? true : undefined),
    timeoutMs,
    () => `the ingress to acknowledge ${bytes} bytes (acked ${session.stats.acked})`,
  );
}

export async function runSmoke(options: SmokeOptions): Promise<SmokeReport> {
  const { target, other } = options;
  const steps: StepResult[] = [];
  let failed = false;
  /** Runs a step; a failed step skips the later ones unless it is `independent`. */
  const step = async (name: string, run: () => Promise<string>, independent = false): Promise<void> => {
    if (failed) {
      const skipped = { name, ok: false, ms: 0, detail: "skipped: an earlier step failed" };
      steps.push(skipped);
      options.onStep?.(skipped);
      return;
    }
    const started = performance.now();
    let result: StepResult;
    try {
      const detail = await run();
      result = { name, ok: true, ms: performance.now() - started, detail };
    } catch (error) {
      if (!independent) failed = true;
      const detail =
        error instanceof TetherError
          ? `${error.code}: ${error.message}`
          : error instanceof Error
            ? error.message
            : String(error);
      result = { name, ok: false, ms: performance.now() - started, detail };
    }
    steps.push(result);
    options.onStep?.(result);
  };

  const audio = twoSpeakerAudio(options.secondsPerSpeaker);
  const half = options.secondsPerSpeaker;
  let session: TetherSession | undefined;
  let conversationId: string | undefined;
  let resumeToken: string | undefined;

  try {
    await step("connect", async () => {
      session = await connectPcm16(target);
      conversationId = session.conversationId;
      if (session.environment !== target.environment)
        fail(`the ingress says it is environment ${session.environment}, not ${target.environment}`);
      return `conversation ${conversationId} on ${session.environment}`;
    });

    await step("stream with disconnects", async () => {
      const s = session as TetherSession;
      s.sendSegments([
        {
          id: "smoke-a",
          start: 0,
          end: half,
          text: "first speaker",
          speaker: "SPEAKER_00",
          is_user: true,
          person_id: null,
        },
        {
          id: "smoke-b",
          start: half,
          end: 2 * half,
          text: "second speaker",
          speaker: "SPEAKER_01",
          is_user: false,
          person_id: "smoke-person-b",
        },
      ]);
      // Drop the socket a third and two thirds of the way in, mid-chunk.
      const drops = new Set([
        Math.floor(audio.length / 3 / FRAME_BYTES),
        Math.floor((2 * audio.length) / 3 / FRAME_BYTES),
      ]);
      for (let offset = 0, frame = 0; offset < audio.length; offset += FRAME_BYTES, frame += 1) {
        await s.write(audio.subarray(offset, offset + FRAME_BYTES));
        if (drops.has(frame)) {
          const resumed = new Promise((resolve) => s.once("ready", resolve));
          s.simulateDisconnect();
          await resumed;
        }
      }
      // Complete chunks are acknowledged as they become durable; the partial last chunk only
      // at finalize, so it is dropped by the close below and sent again after the resume.
      const chunk = s.chunkSize ?? fail("the ingress sent no chunk size");
      const complete = audio.length - (audio.length % chunk);
      await allAcked(s, complete, options.timeoutMs);
      resumeToken = s.resumeToken;
      if (resumeToken === undefined) fail("the ingress gave no resume token");
      const sockets = s.stats.reconnects + 1;
      s.close(); // as an app that quits: the conversation stays resumable
      return `${audio.length} bytes (${2 * half} s) sent over ${sockets} sockets, ${complete} acknowledged`;
    });

    await step(
      `${other.environment} refuses the resume token (4409)`,
      async () => {
        let accepted: TetherSession | undefined;
        try {
          accepted = await connect({ url: other.ingressUrl, token: other.token, resumeToken, maxReconnectAttempts: 1 });
        } catch (error) {
          if (!(error instanceof TetherError)) throw error;
          if (error.code === "wrong_environment" && error.details.closeCode === 4409) {
            const pinned = error.details.expectedEnvironment;
            if (pinned !== target.environment)
              fail(`refused with 4409, but it named environment ${String(pinned)} instead of ${target.environment}`);
            return `refused with 4409, pinned to ${pinned}`;
          }
          fail(
            `${other.environment} did not refuse with 4409 (wrong_environment): it answered ${error.code} (${String(error.details.closeCode)}): ${error.message}`,
          );
        }
        // The other environment took the conversation: let go of it, so the checks below still run.
        accepted.close();
        fail(
          `${other.environment} ACCEPTED a resume token of ${target.environment} (it says it is environment ${accepted.environment}): ` +
            "the environments are not isolated (same ingress, or the same token-signing key?)",
        );
      },
      true,
    );

    await step("resume and finalize", async () => {
      const s = await connect({ url: target.ingressUrl, token: target.token, resumeToken });
      session = s;
      if (s.conversationId !== conversationId) fail(`resumed conversation ${s.conversationId}, not ${conversationId}`);
      // Anything the server does not hold yet is sent again (nothing, if every ack arrived).
      const durable = s.stats.acked;
      if (durable < audio.length) await s.write(audio.subarray(durable));
      // Assign a segment of the first socket from this last one.
      s.assignSpeaker("smoke-person-a", ["smoke-a"]);
      const finalized = await s.finalize();
      if (finalized.position !== audio.length)
        fail(`finalized at ${finalized.position} bytes, ${audio.length} were sent`);
      return `finalized at ${finalized.position} bytes`;
    });

    await step("status finalized", async () => {
      const status = await poll(
        async () => {
          const body = (await (await api(target, `/v1/conversations/${conversationId}`)).json()) as ConversationStatus;
          return body.status === "finalized" ? body : undefined;
        },
        options.timeoutMs,
        () => `conversation ${conversationId} to read finalized`,
      );
      if (status.environment !== target.environment)
        fail(`the API says environment ${status.environment}, not ${target.environment}`);
      if (status.position !== audio.length) fail(`the API says position ${status.position}, ${audio.length} were sent`);
      return `position ${status.position}, ${status.segments} segments`;
    });

    await step("playback byte-exact", async () => {
      const wav = Buffer.from(await (await api(target, `/v1/conversations/${conversationId}/audio.wav`)).arrayBuffer());
      const decoded = decodePcm16MonoWav(wav);
      if (decoded.sampleRate !== SAMPLE_RATE) fail(`audio.wav is ${decoded.sampleRate} Hz, ${SAMPLE_RATE} were sent`);
      const pcm = Buffer.from(decoded.pcm);
      if (!pcm.equals(audio)) {
        let at = 0;
        while (at < Math.min(pcm.length, audio.length) && pcm[at] === audio[at]) at += 1;
        fail(
          `audio.wav differs from what was sent: ${pcm.length} bytes back, ${audio.length} sent, first difference at byte ${at}`,
        );
      }
      return `${wav.length} bytes of WAV, PCM identical`;
    });

    await step("segments", async () => {
      const body = (await (await api(target, `/v1/conversations/${conversationId}/segments`)).json()) as {
        segments: Array<{ id: string; person_id: string | null }>;
      };
      const got = body.segments.map((s) => `${s.id}=${s.person_id}`).join(", ");
      const want = "smoke-a=smoke-person-a, smoke-b=smoke-person-b";
      if (got !== want) fail(`segments are [${got}], expected [${want}]`);
      return got;
    });

    await step("extraction done", async () => {
      const status = await poll(
        async () => {
          const body = (await (await api(target, `/v1/conversations/${conversationId}`)).json()) as ConversationStatus;
          return body.extraction.status === "done" || body.extraction.status === "failed" ? body : undefined;
        },
        options.timeoutMs,
        () => `speaker extraction of ${conversationId} to finish`,
      );
      const people = status.extraction.people.map(
        (p) => `${p.person_id} ${p.status}${p.reason ? ` (${p.reason})` : ""}`,
      );
      if (status.extraction.status !== "done")
        fail(`extraction ended ${status.extraction.status}: ${people.join(", ")}`);
      return people.join(", ");
    });

    await step("delete", async () => {
      const answer = (await (await api(target, `/v1/conversations/${conversationId}`, "DELETE")).json()) as {
        status?: string;
      };
      if (answer.status !== "deleting") fail(`DELETE answered ${JSON.stringify(answer)}`);
      const gone = await rawApi(target, `/v1/conversations/${conversationId}`);
      if (gone.status !== 404) fail(`the deleted conversation still answers ${gone.status}`);
      return "202 deleting, then 404";
    });

    await step("deleted: profiles no longer use it, resume refused", async () => {
      for (const person of ["smoke-person-a", "smoke-person-b"]) {
        await poll(
          async () => {
            const answer = await rawApi(target, `/v1/people/${person}`);
            if (answer.status === 404) return true;
            const body = (await answer.json()) as { samples?: Array<{ conversation_id: string }> };
            return (body.samples ?? []).every((s) => s.conversation_id !== conversationId) ? true : undefined;
          },
          options.timeoutMs,
          () => `${person}'s profile to drop the samples of ${conversationId}`,
        );
      }
      try {
        const resumed = await connect({
          url: target.ingressUrl,
          token: target.token,
          resumeToken,
          maxReconnectAttempts: 1,
        });
        resumed.close();
      } catch (error) {
        if (error instanceof TetherError && error.details.closeCode === 4410)
          return "profiles clean; resume refused with 4410";
        throw error;
      }
      return fail("the deleted conversation could be resumed");
    });
  } finally {
    session?.close();
  }
  return { ok: steps.every((s) => s.ok), conversationId, steps };
}

/** The pass/fail table. */
export function formatReport(report: SmokeReport): string {
  const rows = report.steps.map((s) => [
    s.ok ? "PASS" : s.detail.startsWith("skipped") ? "SKIP" : "FAIL",
    s.name,
    `${(s.ms / 1000).toFixed(2)} s`,
    s.detail,
  ]);
  const header = ["result", "step", "time", "detail"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ");
  const total = report.steps.reduce((sum, s) => sum + s.ms, 0);
  return [line(header), ...rows.map(line), "", `${report.ok ? "PASS" : "FAIL"} in ${(total / 1000).toFixed(1)} s`].join(
    "\n",
  );
}
