/**
 * What the Record page shows: the live numbers, audio in seconds (each cell keeps its raw
 * stream units in `data-units`, which the browser tests read), the input level, how far a
 * file or the demo has got, and the finalized conversation.
 */
import type { Codec } from "@tether/client";

/** `ended`: the file was handed to the SDK whole; the page offers Finalize. */
export type Phase = "idle" | "connecting" | "recording" | "ended" | "finalizing" | "finalized" | "failed";
export const PHASE_TEXT: Record<Phase, string> = {
  idle: "idle",
  connecting: "connecting",
  recording: "recording",
  ended: "file ended",
  finalizing: "finalizing",
  finalized: "finalized",
  failed: "failed",
};

export interface Live {
  sent: number;
  acked: number;
  reconnects: number;
  /** Moves to a new socket after the server's `goaway` (make before break), beside reconnects. */
  handovers: number;
  socket: string;
  sockets: number;
  written: number;
  /** Seconds per stream unit: 1 / (2 x rate) for pcm16 bytes, 0.02 for Opus packets. */
  secondsPerUnit: number;
}

export const EMPTY_LIVE: Live = {
  sent: 0,
  acked: 0,
  reconnects: 0,
  handovers: 0,
  socket: "-",
  sockets: 0,
  written: 0,
  secondsPerUnit: 0,
};

/** One live number: its label, and its cell (`stat-<id>`). */
function Stat(props: { label: string; id: string; value: string; units?: number }) {
  return (
    <>
      <th>{props.label}</th>
      <td data-testid={`stat-${props.id}`} data-units={props.units}>
        {props.value}
      </td>
    </>
  );
}

/** Seconds per stream unit: a pcm16 byte, or an Opus packet (20 ms). */
export const secondsPerUnit = (codec: Codec, sampleRate: number) => (codec === "opus" ? 0.02 : 1 / (2 * sampleRate));

const seconds = (live: Live, units: number) => `${(units * live.secondsPerUnit).toFixed(1)} s`;

/** RMS level as dB full scale, floored at -60. */
export function levelDbfs(rms: number): number {
  return rms <= 0.001 ? -60 : Math.max(-60, 20 * Math.log10(rms));
}

export function LiveStats(props: { live: Live; level: number | undefined }) {
  const { live } = props;
  const db = props.level === undefined ? undefined : levelDbfs(props.level);
  return (
    <table class="stats">
      <tbody>
        <tr>
          <Stat label="written" id="written" value={seconds(live, live.written)} units={live.written} />
          <Stat label="sent" id="sent" value={seconds(live, live.sent)} units={live.sent} />
          <Stat label="acknowledged" id="acked" value={seconds(live, live.acked)} units={live.acked} />
          <th>level</th>
          <td>
            <meter data-testid="level-meter" min={-60} max={0} low={-40} high={-6} optimum={-20} value={db ?? -60} />{" "}
            <span data-testid="level-dbfs">{db === undefined ? "–" : `${db.toFixed(0)} dBFS`}</span>
          </td>
        </tr>
        <tr>
          <Stat label="reconnects" id="reconnects" value={String(live.reconnects)} units={live.reconnects} />
          <Stat label="handovers" id="handovers" value={String(live.handovers)} units={live.handovers} />
          <Stat label="socket" id="socket" value={`${live.socket} (${live.sockets} so far)`} />
        </tr>
      </tbody>
    </table>
  );
}

/** How far a file (or the demo) has been handed to the SDK. */
export function FileProgress(props: { done: number; total: number; label: string }) {
  return (
    <p>
      {props.label} <progress data-testid="file-progress" max={props.total} value={props.done} />{" "}
      <span data-testid="file-progress-text">
        {props.done.toFixed(1)} of {props.total.toFixed(1)} s
      </span>
    </p>
  );
}

/** The finalized conversation: its link, and what the page handed the SDK (bytes, sha-256). */
export function RunResult(props: {
  id: string;
  codec: Codec;
  bytes: number;
  sha256: string;
  demo: boolean;
  resumedFrom: number | undefined;
  href: string;
  onOpen: () => void;
}) {
  return (
    <div class="result">
      Finalized {props.demo ? "demo " : ""}conversation{" "}
      <a
        href={props.href}
        data-testid="conversation-id"
        onClick={(e) => {
          e.preventDefault();
          props.onOpen();
        }}
      >
        {props.id}
      </a>{" "}
      ({props.codec}, <span data-testid="sent-bytes">{props.bytes}</span> bytes handed to the SDK
      {props.resumedFrom !== undefined ? (
        <>
          {" "}
          after resuming at <span data-testid="resumed-from">{props.resumedFrom}</span>
        </>
      ) : null}
      , sha-256 <code data-testid="sent-sha256">{props.sha256}</code>)
      {props.demo ? (
        <p data-testid="demo-next">
          Open it to see the segments by speaker, and the samples extracted for each person (a few seconds after
          finalizing).
        </p>
      ) : null}
    </div>
  );
}

/** A recording this user left unfinished (the page was reloaded or closed), offered for resuming. */
export function ResumeOffer(props: { id: string; awaitingSeconds: number; onResume: () => void }) {
  return (
    <div class="notice" data-testid="resume-offer">
      This page was closed while recording conversation <code>{props.id}</code>: {props.awaitingSeconds.toFixed(1)} s
      await the server.{" "}
      <button type="button" data-testid="resume-stored" onClick={props.onResume}>
        Resume it
      </button>
    </div>
  );
}

export function FileEnded(props: { onFinalize: () => void }) {
  return (
    <div class="notice" data-testid="file-ended">
      The file ended: all of it is handed to the SDK. Finalize to store the conversation.{" "}
      <button type="button" data-testid="finalize-offer" onClick={props.onFinalize}>
        Finalize
      </button>
    </div>
  );
}
