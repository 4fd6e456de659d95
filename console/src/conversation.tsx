/**
 * One conversation: its sockets on a timeline (gaps at reconnects), its segments coloured
 * by speaker with person assignments, the audio (player with seeking through the API's
 * Range support, and a waveform to click), and speaker extraction per person with each
 * sample playable. While extraction is `pending` (also again, while a newer run is
 * outstanding) the page polls and shows it.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { ApiClient, Conversation, Person, Segment } from "./api";
import { sha256Hex } from "./api";
import { Notifications } from "./notifications";

const SPEAKER_COLOURS = ["#1570ef", "#c11574", "#039855", "#dc6803", "#6938ef", "#0e9384"];

function speakerColour(speaker: string | null, order: string[]): string {
  const key = speaker ?? "(none)";
  if (!order.includes(key)) order.push(key);
  return SPEAKER_COLOURS[order.indexOf(key) % SPEAKER_COLOURS.length] as string;
}

const WAV_HEADER = 44;

function Timeline({ sessions }: { sessions: Conversation["sessions"] }) {
  const spans = sessions
    .filter((s) => s.started_at)
    .map((s) => ({
      id: s.session_id,
      start: Date.parse(s.started_at as string),
      end: s.ended_at ? Date.parse(s.ended_at) : Date.now(),
      open: !s.ended_at,
    }));
  if (spans.length === 0) return <p class="muted">No socket has opened yet.</p>;
  const t0 = Math.min(...spans.map((s) => s.start));
  const t1 = Math.max(...spans.map((s) => s.end));
  const width = Math.max(1, t1 - t0);
  return (
    <div data-testid="socket-timeline">
      <svg class="timeline" viewBox="0 0 1000 40" preserveAspectRatio="none" role="img" aria-label="sockets">
        {spans.map((s, i) => (
          <rect
            key={s.id}
            x={((s.start - t0) / width) * 1000}
            y={i % 2 === 0 ? 4 : 20}
            width={Math.max(2, ((s.end - s.start) / width) * 1000)}
            height={16}
            fill={s.open ? "#53b1fd" : "#1570ef"}
          >
            <title>{s.id}</title>
          </rect>
        ))}
      </svg>
      <ol class="sockets">
        {spans.map((s, i) => {
          const previous = spans[i - 1];
          const gap = previous ? s.start - previous.end : undefined;
          return (
            <li key={s.id} data-testid="socket-item">
              socket {s.id}: {new Date(s.start).toLocaleTimeString()} –{" "}
              {s.open ? "open" : new Date(s.end).toLocaleTimeString()} ({((s.end - s.start) / 1000).toFixed(1)} s)
              {gap !== undefined ? ` · reconnected after a ${(Math.max(0, gap) / 1000).toFixed(2)} s gap` : ""}
            </li>
          );
        })}
      </ol>
    </div>
  );
}

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

export function ConversationPage(props: {
  api: ApiClient;
  id: string;
  onError: (error: unknown) => void;
  /** The local stack's environment, whose notifications the page shows; undefined when deployed. */
  notificationsEnv?: string | undefined;
  onDeleted: () => void;
}) {
  const { api, id } = props;
  const [conversation, setConversation] = useState<Conversation | undefined>();
  const [segments, setSegments] = useState<Segment[]>([]);
  const [people, setPeople] = useState<Record<string, Person>>({});
  const [wav, setWav] = useState<Uint8Array | undefined>();
  const [audioHash, setAudioHash] = useState<string | undefined>();
  const [audio, setAudio] = useState<HTMLAudioElement | null>(null);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const [c, s] = await Promise.all([api.conversation(id), api.segments(id)]);
        if (stopped) return;
        setConversation(c);
        setSegments(s);
        const found: Record<string, Person> = {};
        for (const p of c.extraction.people) {
          if (p.samples > 0) found[p.person_id] = await api.person(p.person_id);
        }
        if (!stopped) setPeople(found);
        // Keep watching while anything can still change.
        if (c.status !== "finalized" || c.extraction.status === "pending") timer = setTimeout(() => void load(), 3000);
      } catch (error) {
        if (!stopped) props.onError(error);
      }
    };
    void load();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [api, id]);

  useEffect(() => {
    if (!conversation) return;
    void api
      .audioBytes(id)
      .then(async (bytes) => {
        setWav(bytes);
        setAudioHash(await sha256Hex(bytes.subarray(WAV_HEADER)));
      })
      .catch(props.onError);
  }, [api, id, conversation?.position]);

  if (!conversation) return <p class="muted">Loading {id}…</p>;
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
      <h3>Sockets</h3>
      <Timeline sessions={conversation.sessions} />
      <h3>Audio</h3>
      {/* biome-ignore lint/a11y/useMediaCaption: the segments below are this audio's transcript */}
      <audio ref={setAudio} controls preload="auto" src={api.audioUrl(id)} data-testid="audio-player" />
      <Waveform bytes={wav} audio={audio} />
      <p class="muted">
        stored audio: <span data-testid="audio-bytes">{wav ? wav.length - WAV_HEADER : "…"}</span> bytes, sha-256{" "}
        <code data-testid="audio-sha256">{audioHash ?? "…"}</code>
      </p>
      <h3>Segments ({conversation.segments})</h3>
      {segments.length === 0 ? <p class="muted">No transcript segments were sent.</p> : null}
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
