/**
 * Record: the microphone, a WAV file or the demo into a new conversation, with the
 * session's live numbers in seconds (written, sent, acknowledged, reconnects, handovers,
 * socket), an input level meter, a "drop connection" button that shows a resume, and
 * Finalize. A WAV file is checked before any socket opens, its progress shows, and the
 * page offers Finalize when it ends; the demo (client/demo-conversation.ts, shared with
 * `npm run stream -- --demo`) streams two speakers with segments and person assignments
 * and finalizes itself. The page keeps what it handed the SDK so that the stored audio
 * can be compared with it (`sent-sha256`).
 *
 * Sessions keep their unacknowledged audio in IndexedDB, one database per user: after a
 * reload mid-recording the page offers that user (and no other) to resume the stored
 * conversation, and continues it from the microphone.
 */
import {
  type AudioSink,
  type Codec,
  type ConversationStorage,
  createSession,
  type MicrophoneCapture,
  pcm16ToFloat,
  pickCodec,
  resumeStored,
  rmsLevel,
  type SampleRate,
  startMicrophone,
  streamWavFile,
  type TetherSession,
} from "@tether/client";
import { useEffect, useRef, useState } from "preact/hooks";
import { DEMO_SAMPLE_RATE, DEMO_SPEED, playDemo } from "../../client/demo-conversation";
import { sha256Hex } from "./api";
import { ProblemNotice, RecordControls, type Source } from "./record-controls";
import {
  checkWavFile,
  concat,
  listUnfinished,
  loadDemo,
  recordingsStore,
  type Unfinished,
  UnusableFile,
} from "./record-sources";
import {
  EMPTY_LIVE,
  FileEnded,
  FileProgress,
  type Live,
  LiveStats,
  PHASE_TEXT,
  type Phase,
  ResumeOffer,
  RunResult,
  secondsPerUnit,
} from "./record-view";
import { type Explained, explain, reconnectingSentence } from "./sentences";

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

export function RecordPage(props: RecordProps) {
  const [phase, setPhase] = useState<Phase>("idle");
  const [source, setSource] = useState<Source>("microphone");
  const [file, setFile] = useState<File | undefined>();
  const [preferred, setPreferred] = useState<Codec>("pcm16");
  const [sampleRate, setSampleRate] = useState<SampleRate>(16000);
  const [live, setLive] = useState<Live>(EMPTY_LIVE);
  const [level, setLevel] = useState<number | undefined>();
  const [progress, setProgress] = useState<{ done: number; total: number; label: string } | undefined>();
  const [problem, setProblem] = useState<Explained | undefined>();
  const [retry, setRetry] = useState<{ until: number; attempt: number } | undefined>();
  const [now, setNow] = useState(Date.now());
  const [result, setResult] = useState<
    { id: string; codec: Codec; bytes: number; sha256: string; demo: boolean } | undefined
  >();
  const session = useRef<TetherSession>();
  const capture = useRef<MicrophoneCapture>();
  const fileRun = useRef<{ done: Promise<void>; abort: AbortController }>();
  const sent = useRef<Uint8Array[]>([]);
  const sockets = useRef(0);
  const latestLevel = useRef<number | undefined>();
  const latestProgress = useRef<{ done: number; total: number; label: string } | undefined>();
  const [storage, setStorage] = useState<ConversationStorage | undefined>();
  /** Undefined until this user's store was read. */
  const [stored, setStored] = useState<Unfinished[] | undefined>();
  const [resumedFrom, setResumedFrom] = useState<number | undefined>();

  // This user's store (the page is keyed by environment and user: a new user, a new page).
  useEffect(() => {
    void recordingsStore(props.token)
      .then(setStorage)
      .catch((error: unknown) => setProblem(explain(error, props)));
  }, []);

  // A conversation left in this user's store (the page was reloaded or closed mid-recording).
  useEffect(() => {
    if (!storage) return;
    void listUnfinished(storage, props.ingressUrl)
      .then(setStored)
      .catch(() => setStored([]));
  }, [storage, props.ingressUrl]);

  /** The live numbers, from the session and the latest level and progress (every 200 ms, and at a file's end). */
  const refresh = () => {
    setNow(Date.now());
    setLevel(latestLevel.current);
    setProgress(latestProgress.current);
    const s = session.current;
    if (!s) return;
    const stats = s.stats;
    setLive((old) => ({
      ...old,
      sent: stats.sent,
      acked: stats.acked,
      reconnects: stats.reconnects,
      handovers: stats.handovers,
      written: stats.written,
      sockets: sockets.current,
      secondsPerUnit: secondsPerUnit(s.codec, s.sampleRate),
    }));
  };
  useEffect(() => {
    const timer = setInterval(refresh, 200);
    return () => clearInterval(timer);
  }, []);

  const fail = (error: unknown) => {
    setProblem(
      error instanceof UnusableFile
        ? { title: error.message, action: error.action }
        : explain(error, { environment: props.environment, ingressUrl: props.ingressUrl }),
    );
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
  const onLevel = (rms: number) => {
    latestLevel.current = rms;
  };
  const onProgress = (label: string) => (done: number, total: number) => {
    latestProgress.current = { done, total, label };
  };

  /** Clears the last run's numbers and outcome before a new or resumed one connects. */
  const beginRun = () => {
    setProblem(undefined);
    setResult(undefined);
    setLive(EMPTY_LIVE);
    latestLevel.current = undefined;
    latestProgress.current = undefined;
    sent.current = [];
    sockets.current = 0;
    setPhase("connecting");
  };

  /** Opens a new conversation (the first socket's `ready`) in this user's store. */
  const open = async (codec: Codec, rate: SampleRate): Promise<TetherSession> => {
    if (!storage) throw new Error("the page's store is not open yet");
    const s = await createSession({ url: props.ingressUrl, token: props.token, codec, sampleRate: rate, storage });
    attach(s);
    await s.start();
    return s;
  };

  const resume = async () => {
    if (!storage) return;
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
      capture.current = await startMicrophone(sinkFor(resumed), { onLevel });
      setPhase("recording");
    } catch (error) {
      session.current?.close();
      fail(error);
    }
  };

  /** A chosen file is checked at once: a bad one is refused before anything opens. */
  const choose = async (chosen: File | undefined) => {
    setFile(chosen);
    setProblem(undefined);
    if (phase === "failed") setPhase("idle");
    if (!chosen) return;
    await checkWavFile(chosen).catch(fail);
  };

  const start = async () => {
    beginRun();
    setResumedFrom(undefined);
    try {
      // The file first: nothing opens for a file that cannot be streamed.
      const checked = source === "file" ? await (file ? checkWavFile(file) : Promise.reject(noFile())) : undefined;
      const s = await open(await pickCodec(preferred, sampleRate), sampleRate);
      const sink = sinkFor(s);
      if (!checked) {
        capture.current = await startMicrophone(sink, { onLevel });
      } else {
        const abort = new AbortController();
        const done = streamWavFile(sink, checked.bytes, {
          signal: abort.signal,
          onLevel,
          onProgress: onProgress(file?.name ?? "file"),
        }).then(() => {
          if (abort.signal.aborted) return;
          latestLevel.current = undefined; // the file is silent now
          refresh();
          setPhase((p) => (p === "recording" ? "ended" : p));
        });
        fileRun.current = { abort, done };
      }
      setPhase("recording");
    } catch (error) {
      session.current?.close();
      fail(error);
    }
  };

  /** The demo: two speakers with segments and assignments, then Finalize on its own. */
  const demo = async () => {
    beginRun();
    setResumedFrom(undefined);
    try {
      const plan = await loadDemo();
      const s = await open("pcm16", DEMO_SAMPLE_RATE);
      const sink = sinkFor(s);
      // Finalize pressed mid-demo stops it where it is, as it stops a file.
      const abort = new AbortController();
      const done = playDemo(
        {
          write: (pcm) => {
            onLevel(rmsLevel(pcm16ToFloat(pcm)));
            return sink.write(pcm);
          },
          sendSegments: (segments) => s.sendSegments(segments),
          assignSpeaker: (person, ids) => s.assignSpeaker(person, ids),
        },
        plan,
        { speed: DEMO_SPEED, signal: abort.signal, onProgress: onProgress(`demo (${DEMO_SPEED}x real time)`) },
      );
      fileRun.current = { abort, done };
      setPhase("recording");
      await done;
      if (abort.signal.aborted || s.error) return; // finalized by hand, or the session stopped (its error shows)
      await finalize(true);
    } catch (error) {
      session.current?.close();
      fail(error);
    }
  };

  const finalize = async (isDemo = false) => {
    const s = session.current;
    if (!s) return;
    setPhase("finalizing");
    try {
      await capture.current?.stop();
      capture.current = undefined;
      if (fileRun.current) {
        fileRun.current.abort.abort();
        await fileRun.current.done;
        fileRun.current = undefined;
      }
      const done = await s.finalize();
      const all = concat(sent.current);
      setResult({
        id: done.conversationId,
        codec: s.codec,
        bytes: all.length,
        sha256: await sha256Hex(all),
        demo: isDemo,
      });
      setLive((old) => ({ ...old, socket: "closed (finalized)" }));
      setPhase("finalized");
    } catch (error) {
      fail(error);
    }
  };

  const busy = phase === "connecting" || phase === "recording" || phase === "ended" || phase === "finalizing";
  const canFinalize = phase === "recording" || phase === "ended";
  const secondsLeft = retry ? Math.max(0, Math.ceil((retry.until - now) / 1000)) : 0;
  const offer = stored?.[0];
  return (
    <section data-testid="record-page" data-stored={stored?.length}>
      <h2>Record</h2>
      <RecordControls
        source={source}
        busy={busy}
        canStart={!!storage && (source === "file" ? !!file && problem === undefined : true)}
        canDemo={!!storage}
        canFinalize={canFinalize}
        codec={preferred}
        sampleRate={sampleRate}
        onSource={setSource}
        onFile={(chosen) => void choose(chosen)}
        onCodec={setPreferred}
        onSampleRate={setSampleRate}
        onStart={() => void start()}
        onDemo={() => void demo()}
        onDrop={() => session.current?.simulateDisconnect()}
        onFinalize={() => void finalize()}
      />
      {offer && phase === "idle" ? <ResumeOffer {...offer} onResume={() => void resume()} /> : null}
      <p>
        State: <strong data-testid="record-state">{PHASE_TEXT[phase]}</strong>
      </p>
      {phase === "ended" ? <FileEnded onFinalize={() => void finalize()} /> : null}
      {retry && phase !== "failed" ? (
        <p class="notice" data-testid="reconnect-countdown">
          {reconnectingSentence(secondsLeft, retry.attempt, props.ingressUrl)}
        </p>
      ) : null}
      <LiveStats live={live} level={level} />
      {progress ? <FileProgress {...progress} /> : null}
      {problem ? <ProblemNotice problem={problem} onSwitch={props.onSwitch} /> : null}
      {result ? (
        <RunResult
          {...result}
          resumedFrom={resumedFrom}
          href={props.hrefFor(result.id)}
          onOpen={() => props.onOpen(result.id)}
        />
      ) : null}
    </section>
  );
}

function noFile(): UnusableFile {
  return new UnusableFile("No file is chosen.", "Choose a 16-bit PCM WAV file first.");
}
