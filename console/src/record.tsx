/**
 * Record: the microphone or a WAV file into a new conversation, with the session's live
 * numbers (sent, acknowledged, position, reconnects, handovers, socket), a "drop connection" button
 * that shows a resume, and Finalize. The page keeps what it handed the SDK so that the
 * stored audio can be compared with it (`sent-sha256`).
 *
 * Sessions keep their unacknowledged audio in IndexedDB: after a reload mid-recording the
 * page offers to resume the stored conversation, and continues it from the microphone.
 */
import {
  type AudioSink,
  type Codec,
  createSession,
  indexedDbStore,
  type MicrophoneCapture,
  pickCodec,
  resumeStored,
  SAMPLE_RATES,
  type SampleRate,
  startMicrophone,
  streamWavFile,
  type TetherSession,
} from "@tether/client";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { sha256Hex } from "./api";
import { type Explained, explain, reconnectingSentence } from "./sentences";

type Phase = "idle" | "connecting" | "recording" | "finalizing" | "finalized" | "failed";

interface Live {
  sent: number;
  acked: number;
  position: number;
  reconnects: number;
  /** Moves to a new socket after the server's `goaway` (make before break), beside reconnects. */
  handovers: number;
  socket: string;
  sockets: number;
  written: number;
}

export interface RecordProps {
  readonly environment: string;
  readonly ingressUrl: string;
  readonly token: () => Promise<string>;
  /** The environment the server reported in `ready`. */
  readonly onReady: (environment: string) => void;
  readonly onOpen: (conversationId: string) => void;
  readonly hrefFor: (conversationId: string) => string;
  readonly onSwitch: (environment: string) => void;
}

/** One live number: its label, and its cell (`stat-<id>`, which the browser tests read). */
function Stat(props: { label: string; id: string; value: number | string }) {
  return (
    <>
      <th>{props.label}</th>
      <td data-testid={`stat-${props.id}`}>{props.value}</td>
    </>
  );
}

const EMPTY: Live = {
  sent: 0,
  acked: 0,
  position: 0,
  reconnects: 0,
  handovers: 0,
  socket: "-",
  sockets: 0,
  written: 0,
};

export function RecordPage(props: RecordProps) {
  const [phase, setPhase] = useState<Phase>("idle");
  const [source, setSource] = useState<"microphone" | "file">("microphone");
  const [file, setFile] = useState<File | undefined>();
  const [preferred, setPreferred] = useState<Codec>("pcm16");
  const [sampleRate, setSampleRate] = useState<SampleRate>(16000);
  const [live, setLive] = useState<Live>(EMPTY);
  const [problem, setProblem] = useState<Explained | undefined>();
  const [retry, setRetry] = useState<{ until: number; attempt: number } | undefined>();
  const [now, setNow] = useState(Date.now());
  const [result, setResult] = useState<{ id: string; codec: Codec; bytes: number; sha256: string } | undefined>();
  const session = useRef<TetherSession>();
  const capture = useRef<MicrophoneCapture>();
  const fileRun = useRef<{ done: Promise<void>; abort: AbortController }>();
  const sent = useRef<Uint8Array[]>([]);
  const sockets = useRef(0);
  const storage = useMemo(() => indexedDbStore(), []);
  const [stored, setStored] = useState<Array<{ id: string; acked: number; end: number }>>([]);
  const [resumedFrom, setResumedFrom] = useState<number | undefined>();

  // A conversation left in the store (the page was reloaded or closed mid-recording).
  useEffect(() => {
    void storage
      .list()
      .then((found) =>
        setStored(
          found
            .filter((c) => c.meta.url === props.ingressUrl)
            .map((c) => ({
              id: c.meta.conversationId ?? "(not started)",
              acked: c.acked,
              end: c.audio.reduce(
                (e, a) => Math.max(e, a.start + (c.meta.codec === "pcm16" ? a.data.length : 1)),
                c.acked,
              ),
            })),
        ),
      )
      .catch(() => setStored([]));
  }, [storage, props.ingressUrl]);

  useEffect(() => {
    const timer = setInterval(() => {
      setNow(Date.now());
      const s = session.current;
      if (!s) return;
      const stats = s.stats;
      setLive((old) => ({
        ...old,
        sent: stats.sent,
        acked: stats.acked,
        position: stats.acked,
        reconnects: stats.reconnects,
        handovers: stats.handovers,
        written: stats.written,
        sockets: sockets.current,
      }));
    }, 200);
    return () => clearInterval(timer);
  }, []);

  const fail = (error: unknown) => {
    setProblem(explain(error, { environment: props.environment, ingressUrl: props.ingressUrl }));
    setRetry(undefined);
    setPhase("failed");
  };

  const attach = (s: TetherSession) => {
    s.on("ready", (ready) => {
      sockets.current += 1;
      setRetry(undefined);
      setLive((old) => ({ ...old, socket: ready.sessionId }));
      props.onReady(ready.environment);
    });
    s.on("goaway", (event) => {
      if (event.handingOver) setLive((old) => ({ ...old, socket: `handing over (${event.reason})` }));
    });
    s.on("reconnecting", (event) => {
      setLive((old) => ({ ...old, socket: "reconnecting" }));
      setRetry({ until: Date.now() + event.delayMs, attempt: event.attempt });
    });
    s.on("error", (error) => {
      void capture.current?.stop().catch(() => undefined);
      fileRun.current?.abort.abort();
      fail(error);
    });
    session.current = s;
  };

  /** What the SDK accepted: a write counts once it resolved (stored, with a store). */
  const sinkFor = (s: TetherSession): AudioSink => ({
    codec: s.codec,
    sampleRate: s.sampleRate,
    write: async (bytes) => {
      const copy = bytes.slice();
      await s.write(bytes);
      sent.current.push(copy);
    },
  });

  /** Clears the last run's numbers and outcome before a new or resumed one connects. */
  const beginRun = () => {
    setProblem(undefined);
    setResult(undefined);
    setLive(EMPTY);
    sent.current = [];
    sockets.current = 0;
    setPhase("connecting");
  };

  const resume = async () => {
    beginRun();
    try {
      const results = await resumeStored(storage, { token: props.token });
      setStored([]);
      let resumed: TetherSession | undefined;
      for (const r of results) {
        if (r.kind === "resumed" && resumed === undefined && r.session.url === props.ingressUrl) resumed = r.session;
        else if (r.kind === "resumed") r.session.close();
        else if (r.kind === "failed") fail(r.error);
      }
      if (!resumed) {
        if (results.every((r) => r.kind !== "failed")) setPhase("idle");
        return;
      }
      sockets.current = 1;
      attach(resumed);
      setResumedFrom(resumed.stats.written);
      capture.current = await startMicrophone(sinkFor(resumed));
      setPhase("recording");
    } catch (error) {
      session.current?.close();
      fail(error);
    }
  };

  const start = async () => {
    beginRun();
    setResumedFrom(undefined);
    try {
      const codec = await pickCodec(preferred, sampleRate);
      const s = await createSession({ url: props.ingressUrl, token: props.token, codec, sampleRate, storage });
      attach(s);
      await s.start();
      const sink = sinkFor(s);
      if (source === "microphone") {
        capture.current = await startMicrophone(sink);
      } else {
        if (!file) throw new Error("choose a WAV file first");
        const abort = new AbortController();
        const bytes = new Uint8Array(await file.arrayBuffer());
        fileRun.current = { abort, done: streamWavFile(sink, bytes, { signal: abort.signal }) };
      }
      setPhase("recording");
    } catch (error) {
      session.current?.close();
      fail(error);
    }
  };

  const finalize = async () => {
    const s = session.current;
    if (!s) return;
    setPhase("finalizing");
    try {
      await capture.current?.stop();
      capture.current = undefined;
      if (fileRun.current) {
        await fileRun.current.done;
        fileRun.current = undefined;
      }
      const done = await s.finalize();
      const all = new Uint8Array(sent.current.reduce((n, b) => n + b.length, 0));
      let offset = 0;
      for (const b of sent.current) {
        all.set(b, offset);
        offset += b.length;
      }
      setResult({ id: done.conversationId, codec: s.codec, bytes: all.length, sha256: await sha256Hex(all) });
      setLive((old) => ({ ...old, socket: "closed (finalized)" }));
      setPhase("finalized");
    } catch (error) {
      fail(error);
    }
  };

  const busy = phase === "connecting" || phase === "recording" || phase === "finalizing";
  const secondsLeft = retry ? Math.max(0, Math.ceil((retry.until - now) / 1000)) : 0;
  return (
    <section>
      <h2>Record</h2>
      <div class="controls">
        <label>
          Source{" "}
          <select
            data-testid="record-source"
            value={source}
            disabled={busy}
            onChange={(e) => setSource(e.currentTarget.value as "microphone" | "file")}
          >
            <option value="microphone">microphone</option>
            <option value="file">WAV file</option>
          </select>
        </label>
        {source === "file" ? (
          <input
            type="file"
            accept=".wav,audio/wav"
            data-testid="record-file"
            disabled={busy}
            onChange={(e) => setFile(e.currentTarget.files?.[0])}
          />
        ) : null}
        <label>
          Codec{" "}
          <select value={preferred} disabled={busy} onChange={(e) => setPreferred(e.currentTarget.value as Codec)}>
            <option value="pcm16">pcm16</option>
            <option value="opus">opus (WebCodecs; pcm16 where unsupported)</option>
          </select>
        </label>
        <label>
          Rate{" "}
          <select
            value={sampleRate}
            disabled={busy}
            onChange={(e) => setSampleRate(Number(e.currentTarget.value) as SampleRate)}
          >
            {SAMPLE_RATES.map((r) => (
              <option value={r}>{r} Hz</option>
            ))}
          </select>
        </label>
        <button type="button" data-testid="record-start" disabled={busy} onClick={() => void start()}>
          Record
        </button>
        <button
          type="button"
          data-testid="drop-connection"
          disabled={phase !== "recording"}
          onClick={() => session.current?.simulateDisconnect()}
        >
          Drop connection
        </button>
        <button type="button" data-testid="finalize" disabled={phase !== "recording"} onClick={() => void finalize()}>
          Finalize
        </button>
      </div>
      {stored.length > 0 && phase === "idle" ? (
        <div class="notice" data-testid="resume-offer">
          This page was closed while recording conversation <code>{stored[0]?.id}</code>:{" "}
          {(stored[0]?.end ?? 0) - (stored[0]?.acked ?? 0)} units await the server.{" "}
          <button type="button" data-testid="resume-stored" onClick={() => void resume()}>
            Resume it
          </button>
        </div>
      ) : null}
      <p>
        State: <strong data-testid="record-state">{phase}</strong>
      </p>
      {retry && phase !== "failed" ? (
        <p class="notice" data-testid="reconnect-countdown">
          {reconnectingSentence(secondsLeft, retry.attempt, props.ingressUrl)}
        </p>
      ) : null}
      <table class="stats">
        <tbody>
          <tr>
            <Stat label="written" id="written" value={live.written} />
            <Stat label="sent" id="sent" value={live.sent} />
            <Stat label="acknowledged" id="acked" value={live.acked} />
          </tr>
          <tr>
            <Stat label="position" id="position" value={live.position} />
            <Stat label="reconnects" id="reconnects" value={live.reconnects} />
            <Stat label="handovers" id="handovers" value={live.handovers} />
            <Stat label="socket" id="socket" value={`${live.socket} (${live.sockets} so far)`} />
          </tr>
        </tbody>
      </table>
      {problem ? (
        <div class="problem" role="alert" data-testid="problem">
          <strong>{problem.title}</strong> {problem.action}
          {problem.switchTo ? (
            <button type="button" onClick={() => props.onSwitch(problem.switchTo as string)}>
              Go to {problem.switchTo}
            </button>
          ) : null}
        </div>
      ) : null}
      {result ? (
        <div class="result">
          Finalized conversation{" "}
          <a
            href={props.hrefFor(result.id)}
            data-testid="conversation-id"
            onClick={(e) => {
              e.preventDefault();
              props.onOpen(result.id);
            }}
          >
            {result.id}
          </a>{" "}
          ({result.codec}, <span data-testid="sent-bytes">{result.bytes}</span> bytes handed to the SDK
          {resumedFrom !== undefined ? (
            <>
              {" "}
              after resuming at <span data-testid="resumed-from">{resumedFrom}</span>
            </>
          ) : null}
          , sha-256 <code data-testid="sent-sha256">{result.sha256}</code>)
        </div>
      ) : null}
    </section>
  );
}
