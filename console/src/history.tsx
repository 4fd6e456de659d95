/**
 * A conversation's history (`GET /v1/conversations/{id}/history`) on its audio's time axis:
 * rows for the sockets (the audio each carried), the chunks stored and what was published,
 * the text events applied per socket, and markers for redeliveries, dead letters, handovers,
 * finalize, extraction and notifications; then the same steps as a list, in audio order.
 */
import { useState } from "preact/hooks";
import type { History } from "./api";

const WIDTH = 1000;
const ROW = 18;
const LEFT = 70;

const MARK_COLOURS: Record<string, string> = {
  redelivered: "#dc6803",
  dead_lettered: "#b42318",
  text_rejected: "#b42318",
  handover: "#6938ef",
  finalize: "#101828",
  finalized: "#039855",
  extraction_requested: "#0e9384",
  extraction_result: "#0e9384",
  notification: "#c11574",
};

/** Tick spacing giving 5 to 10 ticks over `duration` seconds. Pure. */
export function tickStep(duration: number): number {
  for (const step of [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]) {
    if (duration / step <= 10) return step;
  }
  return 7200;
}

export function HistoryTimeline({ history }: { history: History }) {
  const [everyChunk, setEveryChunk] = useState(false);
  const duration = Math.max(1, history.duration_s);
  const x = (s: number) => LEFT + (s / duration) * (WIDTH - LEFT - 10);
  const step = tickStep(duration);
  const ticks: number[] = [];
  for (let s = 0; s <= duration + 1e-9; s += step) ticks.push(s);
  const chunks = history.events.filter((e) => e.kind === "chunk_stored");
  const texts = history.events.filter((e) => e.kind === "text_applied");
  const marks = history.events.filter((e) => MARK_COLOURS[e.kind] !== undefined);
  const rows = ["sockets", "chunks", "text", "steps"];
  const height = rows.length * (ROW + 6) + 24;
  const listed = history.events.filter((e) => everyChunk || e.kind !== "chunk_stored");
  return (
    <div data-testid="history">
      <svg class="history" viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-label="history on the audio's time axis">
        {rows.map((label, i) => (
          <text key={label} x={4} y={i * (ROW + 6) + 13} class="history-label">
            {label}
          </text>
        ))}
        {history.sockets.map((s, i) => (
          <rect
            key={s.session_id}
            x={x(s.from_s)}
            y={0}
            width={Math.max(2, x(s.to_s) - x(s.from_s))}
            height={ROW}
            fill={i % 2 === 0 ? "#1570ef" : "#53b1fd"}
          >
            <title>
              socket {i + 1}: {s.from_s.toFixed(1)}–{s.to_s.toFixed(1)} s, {s.bytes} bytes
            </title>
          </rect>
        ))}
        <rect
          x={x(0)}
          y={ROW + 6 + ROW - 3}
          width={Math.max(0, x(history.published_s) - x(0))}
          height={3}
          fill="#98a2b3"
        >
          <title>published (acknowledged) up to {history.published_s.toFixed(1)} s</title>
        </rect>
        {chunks.map((c) => (
          <rect
            key={`${c.at_s}-${c.text}`}
            x={x(c.at_s) + 0.5}
            y={ROW + 6}
            width={Math.max(1, x(c.to_s ?? c.at_s) - x(c.at_s) - 1)}
            height={ROW - 5}
            fill="#039855"
          >
            <title>{c.text}</title>
          </rect>
        ))}
        {texts.map((t) => (
          <rect
            key={`${t.session_id}-text`}
            x={x(t.at_s)}
            y={2 * (ROW + 6)}
            width={Math.max(2, x(t.to_s ?? t.at_s) - x(t.at_s))}
            height={ROW}
            fill="#fdb022"
          >
            <title>{t.text}</title>
          </rect>
        ))}
        {marks.map((m, i) => (
          <g key={`${m.kind}-${i}`}>
            <rect
              x={x(m.at_s)}
              y={3 * (ROW + 6) + (i % 3) * 5}
              width={Math.max(4, x(m.to_s ?? m.at_s) - x(m.at_s))}
              height={8}
              fill={MARK_COLOURS[m.kind]}
            >
              <title>
                {m.at_s.toFixed(1)} s: {m.text}
              </title>
            </rect>
          </g>
        ))}
        {ticks.map((s) => (
          <g key={s}>
            <line x1={x(s)} x2={x(s)} y1={0} y2={height - 14} class="history-tick" />
            <text x={x(s)} y={height - 2} class="history-tick-label" text-anchor="middle">
              {s} s
            </text>
          </g>
        ))}
      </svg>
      <p class="muted">
        audio time axis · published (acknowledged to the client) up to{" "}
        <span data-testid="history-published">{history.published_s.toFixed(1)}</span> s · stored up to{" "}
        <span data-testid="history-stored">{history.stored_s.toFixed(1)}</span> s
        {history.truncated.length > 0 ? ` · only the first of many: ${history.truncated.join(", ")}` : ""}
      </p>
      <ol class="sockets">
        {history.sockets.map((s, i) => (
          <li key={s.session_id} data-testid="socket-item" data-closed-as={s.closed_as ?? "open"}>
            socket {i + 1} carried {s.from_s.toFixed(1)}–{s.to_s.toFixed(1)} s ({s.bytes} bytes in {s.chunks} chunk
            {s.chunks === 1 ? "" : "s"}), {s.events_applied} text event{s.events_applied === 1 ? "" : "s"} applied
            {s.events_rejected > 0 ? `, ${s.events_rejected} rejected` : ""} ·{" "}
            {s.closed_as ? `closed as ${s.closed_as}` : "open"}
            {s.goaway ? ` after goaway (${s.goaway})` : ""}
          </li>
        ))}
      </ol>
      <label class="muted">
        <input type="checkbox" checked={everyChunk} onChange={(e) => setEveryChunk(e.currentTarget.checked)} /> list
        each stored chunk ({chunks.length})
      </label>
      <table class="stats history-list">
        <thead>
          <tr>
            <th>audio</th>
            <th>step</th>
            <th>what happened</th>
            <th>recorded at</th>
          </tr>
        </thead>
        <tbody>
          {listed.map((e, i) => (
            <tr key={`${e.kind}-${i}`} data-testid="history-event" data-kind={e.kind}>
              <td>
                {e.at_s.toFixed(1)}
                {e.to_s !== undefined && e.to_s !== e.at_s ? `–${e.to_s.toFixed(1)}` : ""} s
              </td>
              <td>{e.kind.replace(/_/g, " ")}</td>
              <td>{e.text}</td>
              <td class="muted">{e.time ? new Date(e.time).toLocaleTimeString() : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
