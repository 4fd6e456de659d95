/**
 * The stream command's output on stderr: on a terminal, one progress line redrawn in place,
 * with every message printed on a line of its own above it (the progress line is cleared
 * first and redrawn after, so "resumed at 5.0 s" never lands at its end); elsewhere (a
 * pipe, a log file), plain lines, the progress line at most every `pipeEveryMs`.
 */

/** What the output needs of a stream: `process.stderr`, or a fake in tests. */
export interface OutputStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

/** Erases the whole current line and returns to its start. */
const CLEAR_LINE = "\r\x1b[2K";

export class StatusOutput {
  private progressLine: string | undefined;
  private lastPiped = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly out: OutputStream,
    private readonly pipeEveryMs = 2000,
    private readonly now: () => number = Date.now,
  ) {}

  get isTerminal(): boolean {
    return this.out.isTTY === true;
  }

  /** A message on its own line (several lines are fine). */
  say(message: string): void {
    if (!this.isTerminal) {
      this.out.write(`${message}\n`);
      return;
    }
    const redraw = this.progressLine === undefined ? "" : this.progressLine;
    this.out.write(`${this.progressLine === undefined ? "" : CLEAR_LINE}${message}\n${redraw}`);
  }

  /** Replaces the progress line (on a pipe: printed when `pipeEveryMs` passed, or when `force`). */
  progress(line: string, force = false): void {
    if (!this.isTerminal) {
      if (!force && this.now() - this.lastPiped < this.pipeEveryMs) return;
      this.lastPiped = this.now();
      this.out.write(`${line}\n`);
      return;
    }
    this.progressLine = line;
    this.out.write(`${CLEAR_LINE}${line}`);
  }

  /** Leaves the progress line as it is and moves below it. */
  endProgress(): void {
    if (this.isTerminal && this.progressLine !== undefined) this.out.write("\n");
    this.progressLine = undefined;
  }
}
