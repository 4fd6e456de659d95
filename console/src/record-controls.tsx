/**
 * What the Record page offers to do: the source (microphone or a WAV file), the format,
 * Record, Demo, "drop connection" and Finalize; and the problem that stopped a run, with
 * the way out it names.
 */
import { type Codec, SAMPLE_RATES, type SampleRate } from "@tether/client";
import type { Explained } from "./sentences";

export type Source = "microphone" | "file";

export function RecordControls(props: {
  source: Source;
  /** A run is under way: its settings are fixed. */
  busy: boolean;
  canStart: boolean;
  canDemo: boolean;
  canFinalize: boolean;
  codec: Codec;
  sampleRate: SampleRate;
  onSource: (source: Source) => void;
  onFile: (file: File | undefined) => void;
  onCodec: (codec: Codec) => void;
  onSampleRate: (rate: SampleRate) => void;
  onStart: () => void;
  onDemo: () => void;
  onDrop: () => void;
  onFinalize: () => void;
}) {
  const { busy } = props;
  return (
    <div class="controls">
      <label>
        Source{" "}
        <select
          data-testid="record-source"
          value={props.source}
          disabled={busy}
          onChange={(e) => props.onSource(e.currentTarget.value as Source)}
        >
          <option value="microphone">microphone</option>
          <option value="file">WAV file</option>
        </select>
      </label>
      {props.source === "file" ? (
        <input
          type="file"
          accept=".wav,audio/wav"
          data-testid="record-file"
          disabled={busy}
          onChange={(e) => props.onFile(e.currentTarget.files?.[0])}
        />
      ) : null}
      <FormatChoice
        codec={props.codec}
        sampleRate={props.sampleRate}
        disabled={busy}
        onCodec={props.onCodec}
        onSampleRate={props.onSampleRate}
      />
      <button type="button" data-testid="record-start" disabled={busy || !props.canStart} onClick={props.onStart}>
        Record
      </button>
      <button
        type="button"
        data-testid="record-demo"
        title="Streams a two-speaker conversation with transcript segments and person assignments"
        disabled={busy || !props.canDemo}
        onClick={props.onDemo}
      >
        Demo
      </button>
      <button type="button" data-testid="drop-connection" disabled={!props.canFinalize} onClick={props.onDrop}>
        Drop connection
      </button>
      <button type="button" data-testid="finalize" disabled={!props.canFinalize} onClick={props.onFinalize}>
        Finalize
      </button>
    </div>
  );
}

export function FormatChoice(props: {
  codec: Codec;
  sampleRate: SampleRate;
  disabled: boolean;
  onCodec: (codec: Codec) => void;
  onSampleRate: (rate: SampleRate) => void;
}) {
  return (
    <>
      <label>
        Codec{" "}
        <select
          value={props.codec}
          disabled={props.disabled}
          onChange={(e) => props.onCodec(e.currentTarget.value as Codec)}
        >
          <option value="pcm16">pcm16</option>
          <option value="opus">opus (WebCodecs; pcm16 where unsupported)</option>
        </select>
      </label>
      <label>
        Rate{" "}
        <select
          value={props.sampleRate}
          disabled={props.disabled}
          onChange={(e) => props.onSampleRate(Number(e.currentTarget.value) as SampleRate)}
        >
          {SAMPLE_RATES.map((r) => (
            <option value={r}>{r} Hz</option>
          ))}
        </select>
      </label>
    </>
  );
}

/** Why the run stopped and what to do; a button to the conversation's environment when that is the fix. */
export function ProblemNotice(props: { problem: Explained; onSwitch: (environment: string) => void }) {
  const { problem } = props;
  return (
    <div class="problem" role="alert" data-testid="problem">
      <strong>{problem.title}</strong> {problem.action}
      {problem.switchTo ? (
        <button type="button" onClick={() => props.onSwitch(problem.switchTo as string)}>
          Go to {problem.switchTo}
        </button>
      ) : null}
    </div>
  );
}
