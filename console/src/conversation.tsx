/**
 * One conversation: its history on the audio's time axis (sockets, chunks, text, deliveries,
 * finalize, extraction), its segments coloured by speaker with person assignments, the audio
 * (a player of the WAV fetched with the bearer header, and a waveform to click), and
 * speaker extraction per person with each sample playable. While anything can still change
 * the page polls. Every state says what to do next: loading, not found (and where the
 * conversation is instead), failed, empty, and extraction `done` with nobody in it.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { ApiClient, Conversation, History, Person, Segment } from "./api";
import { ApiFailure, sha256Hex } from "./api";
import { HistoryTimeline } from "./history";
import { Notifications } from "./notifications";

const SPEAKER_COLOURS = ["#1570ef", "#c11574", "#039855", "#dc6803", "#6938ef", "#0e9384"];

function speakerColour(speaker: string | null, order: string[]): string {
  const key = speaker ?? "(none)";
  if (!order.includes(key)) order.push(key);
  return SPEAKER_COLOURS[order.indexOf(key) % SPEAKER_COLOURS.length] as string;
}

const WAV_HEADER = 44;

function Waveform({ bytes, audio }: { bytes: Uint8Array | undefined; audio: HTMLAudioElement | null }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = canvas.current;
    if (!c || !bytes) return;
    const g = c.getContext("2d");
    if (!g) return;
    const view = new DataView(bytes.buffer, bytes.byteOffset + WAV_HEADER, Math.max(0, bytes.byteLength - WAV_HEADER));
    const samples = Math.floor(view.byteLength / 2);
    const columns = c.width;
    g.clearRect(0, 0, c.width, c.height);
    g.fillStyle = "#1570ef";
    for (let x = 0; x < columns; x += 1) {
      let peak = 0;
      const from = Math.floor((x * samples) / columns);
      const to = Math.floor(((x + 1) * samples) / columns);
      for (let i = from; i < to; i += 1) peak = Math.max(peak, Math.abs(view.getInt16(i * 2, true)));
      const h = (peak / 32768) * c.height;
      g.fillRect(x, (c.height - h) / 2, 1, Math.max(1, h));
    }
  }, [bytes]);
  return (
    <canvas
      ref={canvas}
      class="waveform"
      width={1000}
      height={80}
      data-testid="waveform"
      title="click to seek"
      onClick={(e) => {
        if (!audio || !Number.isFinite(audio.duration)) return;
        const box = e.currentTarget.getBoundingClientRect();
        audio.currentTime = ((e.clientX - box.left) / box.width) * audio.duration;
      }}
    />
  );
}

/** Deletes the conversation after the user confirms; the API answers 202 and the data goes within seconds. */
function DeleteButton(props: { api: ApiClient; id: string; onDeleted: () => void; onError: (error: unknown) => void }) {
  const [busy, setBusy] = useState(false);
  const remove = async () => {
    if (!window.confirm(`Delete conversation ${props.id}? Its audio, segments and speaker samples go for good.`))
      return;
    setBusy(true);
    try {
      await props.api.deleteConversation(props.id);
      props.onDeleted();
    } catch (error) {
      setBusy(false);
      props.onError(error);
    }
  };
  return (
    <button
      type="button"
      class="danger"
      data-testid="delete-conversation"
      disabled={busy}
      onClick={() => void remove()}
    >
      {busy ? "Deleting…" : "Delete conversation"}
    </button>
  );
}

/** What the page shows instead of the conversation: still loading, or why it cannot be shown. */
type Blocked =
  | { kind: "loading" }
  | { kind: "not_found"; elsewhere: string | undefined; searched: boolean }
  | { kind: "failed"; title: string; action: string };

/** Why extraction found nobody, from what was sent. Pure. */
export function nobodyExtracted(segments: readonly Segment[]): string {
  if (segments.length === 0)
    return "No transcript segments were sent, so there is nobody to extract. Send segments, then assign them to people (speaker_assigned).";
  if (!segments.some((s) => s.person_id))
    return `None of the ${segments.length} segment${segments.length === 1 ? " is" : "s are"} assigned to a person. Send speaker_assigned (or segments with person_id) to extract samples per person.`;
  return "Segments are assigned to people, but this run took no one: see the history above for a newer generation.";
}

export function ConversationPage(props: {
  api: ApiClient;
  id: string;
  /** The environment this page asks (the banner's). */
  environment: string;
  /** The other environment that holds this id, if any (asked after a 404). */
  locate: (id: string) => Promise<string | undefined>;
  /** Opens the same conversation in another environment. */
  hrefIn: (environment: string) => string;
  explainError: (error: unknown) => { title: string; action: string };
  onError: (error: unknown) => void;
  /** The local stack's environment, whose notifications the page shows; undefined when deployed. */
  notificationsEnv?: string | undefined;
  onDeleted: () => void;
}) {
  const { api, id } = props;
  const [conversation, setConversation] = useState<Conversation | undefined>();
  const [blocked, setBlocked] = useState<Blocked | undefined>({ kind: "loading" });
  const [refreshProblem, setRefreshProblem] = useState<string | undefined>();
  const [history, setHistory] = useState<History | undefined>();
  const [segments, setSegments] = useState<Segment[]>([]);
  const [people, setPeople] = useState<Record<string, Person>>({});
  const [wav, setWav] = useState<Uint8Array<ArrayBuffer> | undefined>();
  const [audioHash, setAudioHash] = useState<string | undefined>();
  const [audio, setAudio] = useState<HTMLAudioElement | null>(null);
  const [wavUrl, setWavUrl] = useState<string | undefined>();

  useEffect(() => {
    let stopped = false;
    let loaded = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setConversation(undefined);
    setBlocked({ kind: "loading" });
    const load = async () => {
      try {
        const [c, s, h] = await Promise.all([api.conversation(id), api.segments(id), api.history(id)]);
        if (stopped) return;
        loaded = true;
        setConversation(c);
        setSegments(s);
        setHistory(h);
        setBlocked(undefined);
        setRefreshProblem(undefined);
        const found: Record<string, Person> = {};
        for (const p of c.extraction.people) {
          if (p.samples > 0) found[p.person_id] = await api.person(p.person_id);
        }
        if (!stopped) setPeople(found);
        // Keep watching while anything can still change.
        if (c.status !== "finalized" || c.extraction.status === "pending") timer = setTimeout(() => void load(), 3000);
      } catch (error) {
        if (stopped) return;
        if (loaded) {
          // A refresh failed: keep what is shown, say so, and keep trying.
          const e = props.explainError(error);
          setRefreshProblem(`${e.title} ${e.action}`);
          timer = setTimeout(() => void load(), 3000);
        } else if (error instanceof ApiFailure && error.status === 404) {
          setBlocked({ kind: "not_found", elsewhere: undefined, searched: false });
          const elsewhere = await props.locate(id).catch(() => undefined);
          if (!stopped) setBlocked({ kind: "not_found", elsewhere, searched: true });
        } else {
          setBlocked({ kind: "failed", ...props.explainError(error) });
        }
      }
    };
    void load();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [api, id]);

  useEffect(() => {
    if (!conversation || conversation.position === 0) return;
    void api
      .audioBytes(id)
      .then(async (bytes) => {
        setWav(bytes);
        setAudioHash(await sha256Hex(bytes.subarray(WAV_HEADER)));
      })
      .catch(props.onError);
    // The stored audio can trail the acknowledged position until finalize: fetch again then.
  }, [api, id, conversation?.position, conversation?.status]);

  // The player plays the bytes fetched with the bearer header: an <audio src> on the API
  // would need the token in its URL, which logs and proxies record.
  useEffect(() => {
    if (!wav) return;
    const url = URL.createObjectURL(new Blob([wav], { type: "audio/wav" }));
    const resumeAt = audio?.currentTime ?? 0;
    setWavUrl(url);
    if (audio && resumeAt > 0)
      audio.addEventListener(
        "loadedmetadata",
        () => {
          audio.currentTime = resumeAt;
        },
        { once: true },
      );
    return () => URL.revokeObjectURL(url);
  }, [wav]);

  if (blocked?.kind === "loading")
    return (
      <p class="muted" data-testid="conversation-loading">
        Loading conversation {id}…
      </p>
    );
  if (blocked?.kind === "not_found") {
    return (
      <div class="problem" role="alert" data-testid="conversation-not-found">
        <p>
          <strong>
            404: there is no conversation {id} in {props.environment}.
          </strong>
        </p>
        {blocked.elsewhere ? (
          <p data-testid="conversation-elsewhere">
            It is in {blocked.elsewhere}: <a href={props.hrefIn(blocked.elsewhere)}>open it in {blocked.elsewhere}</a>.
            A conversation stays in the environment it started in.
          </p>
        ) : (
          <p>
            {blocked.searched
              ? "No other environment of this console holds it either. Check the id, or pick the conversation from the Conversations list."
              : "Looking in the other environments…"}
          </p>
        )}
      </div>
    );
  }
  if (blocked?.kind === "failed") {
    return (
      <p class="problem" role="alert" data-testid="conversation-failed">
        {blocked.title} {blocked.action}
      </p>
    );
  }
  if (!conversation) return null;
  const order: string[] = [];
  const playRange = (start: number, end: number) => {
    if (!audio) return;
    audio.currentTime = start;
    void audio.play();
    const stopAt = () => {
      if (audio.currentTime >= end) {
        audio.pause();
        audio.removeEventListener("timeupdate", stopAt);
      }
    };
    audio.addEventListener("timeupdate", stopAt);
  };
  const segmentById = new Map(segments.map((s) => [s.id, s]));
  return (
    <section>
      <h2>
        Conversation <code data-testid="conversation-title">{conversation.id}</code>
      </h2>
      <p>
        environment <strong data-testid="conversation-environment">{conversation.environment}</strong> · status{" "}
        <strong data-testid="conversation-status">{conversation.status}</strong> · {conversation.codec}{" "}
        {conversation.sample_rate} Hz · {(conversation.duration_ms / 1000).toFixed(1)} s · position{" "}
        {conversation.position}
      </p>
      <DeleteButton api={api} id={id} onDeleted={props.onDeleted} onError={props.onError} />
      {refreshProblem ? (
        <p class="problem" role="alert" data-testid="refresh-problem">
          {refreshProblem} (what is shown is from the last answer)
        </p>
      ) : null}
      <h3>History</h3>
      {history && history.sockets.length > 0 ? (
        <HistoryTimeline history={history} />
      ) : (
        <p class="muted">
          No socket has opened yet: stream to this conversation (the Record page, or npm run stream) and its history
          appears here.
        </p>
      )}
      <h3>Audio</h3>
      {conversation.position === 0 ? (
        <p class="muted" data-testid="audio-empty">
          No audio is stored yet; this page refreshes while the conversation is open.
        </p>
      ) : null}
      {/* biome-ignore lint/a11y/useMediaCaption: the segments below are this audio's transcript */}
      <audio ref={setAudio} controls preload="auto" src={wavUrl} data-testid="audio-player" />
      <Waveform bytes={wav} audio={audio} />
      <p class="muted">
        stored audio: <span data-testid="audio-bytes">{wav ? wav.length - WAV_HEADER : "…"}</span> bytes, sha-256{" "}
        <code data-testid="audio-sha256">{audioHash ?? "…"}</code>
      </p>
      <h3>Segments ({conversation.segments})</h3>
      {segments.length === 0 ? (
        <p class="muted">
          No transcript segments were sent. A client sends them as `segments` messages (the SDK's sendSegments).
        </p>
      ) : null}
      <ul class="segments">
        {segments.map((s) => (
          <li key={s.id} style={{ borderLeftColor: speakerColour(s.speaker, order) }}>
            <button type="button" onClick={() => playRange(s.start, s.end)}>
              ▶
            </button>{" "}
            {s.start.toFixed(1)}–{s.end.toFixed(1)} s <strong>{s.speaker ?? "unknown speaker"}</strong>
            {s.is_user ? " (user)" : ""} → {s.person_id ? <em>person {s.person_id}</em> : <em>unassigned</em>}: {s.text}
          </li>
        ))}
      </ul>
      <h3>
        Speaker extraction: <span data-testid="extraction-status">{conversation.extraction.status}</span>
      </h3>
      {conversation.extraction.status === "pending" ? (
        <p class="muted">
          Pending: a run is outstanding (or a newer one, after segments changed); this page refreshes.
        </p>
      ) : null}
      {conversation.extraction.status === "failed" ? (
        <p class="problem" data-testid="extraction-why">
          The run failed: each person below says why. Fix what it names (e.g. longer assigned segments), then send the
          change; a new run starts by itself.
        </p>
      ) : null}
      {conversation.extraction.status === "done" && conversation.extraction.people.length === 0 ? (
        <p class="notice" data-testid="extraction-why">
          Done, with nobody: {nobodyExtracted(segments)}
        </p>
      ) : null}
      <ul>
        {conversation.extraction.people.map((p) => (
          <li key={p.person_id}>
            person <strong>{p.person_id}</strong>: {p.status}
            {p.reason ? ` (${p.reason})` : ""}, {p.samples} sample{p.samples === 1 ? "" : "s"}
            {(people[p.person_id]?.samples ?? []).map((sample, i) => {
              const parts = sample.segment_ids.map((sid) => segmentById.get(sid)).filter((s) => s !== undefined);
              const first = parts[0];
              const last = parts.at(-1);
              const here = sample.conversation_id === id && first && last;
              return (
                <span key={sample.uri}>
                  {" "}
                  {here ? (
                    <button type="button" onClick={() => playRange(first.start, last.end)}>
                      ▶ sample {i + 1} ({(sample.duration_ms / 1000).toFixed(1)} s)
                    </button>
                  ) : (
                    <span class="muted">
                      sample {i + 1} from {sample.conversation_id}
                    </span>
                  )}
                </span>
              );
            })}
          </li>
        ))}
      </ul>
      {props.notificationsEnv !== undefined ? (
        <>
          <h3>Notifications</h3>
          <Notifications env={props.notificationsEnv} conversationId={id} testId="conversation-notifications" />
        </>
      ) : null}
    </section>
  );
}
