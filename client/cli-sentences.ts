/**
 * What `npm run stream` says when it cannot go on: nothing answers at the URL, or Ctrl-C
 * stopped it with a conversation left open. Each sentence says what to run next. Pure.
 */

/** How long the first connection may take before the stream gives up (the SDK's own retries go on for minutes); with start-up, about 10 s. */
export const FIRST_CONTACT_MS = 7_000;

/** The command line again, quoted for a POSIX shell where needed. */
export function rerunCommand(args: readonly string[]): string {
  const quoted = args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  return ["npm run stream --", ...quoted].join(" ");
}

export interface NoAnswer {
  readonly url: string;
  readonly attempts: number;
  /** The last attempt's close code and reason, when one failed. */
  readonly lastFailure: string | undefined;
  /** The URL came from the local stack's state file. */
  readonly fromStateFile: boolean;
}

export function nothingAnswers(e: NoAnswer): string {
  const tried = `${e.attempts} attempt${e.attempts === 1 ? "" : "s"} in ${FIRST_CONTACT_MS / 1000} s${
    e.lastFailure ? `, last: ${e.lastFailure}` : ""
  }`;
  const what = e.fromStateFile
    ? "Is the local stack running? Start it with `npm start` in another terminal (the state file may be left from a stack that stopped), then run this again."
    : "Check --url (ws://HOST:PORT/v1/listen), or start the local stack with `npm start` and leave --url out.";
  return `nothing answers at ${e.url} (${tried}). ${what}`;
}

export interface LeftOpen {
  readonly conversationId?: string | undefined;
  readonly environment?: string | undefined;
  /** e.g. "4.0 s". */
  readonly acked: string;
  readonly written: string;
  /** Where the audio not yet acknowledged is kept, if anywhere. */
  readonly store: string | undefined;
  readonly finalizing: boolean;
  readonly args: readonly string[];
}

/** What Ctrl-C left behind, and how to go on. */
export function leftOpenLines(e: LeftOpen): string[] {
  if (e.conversationId === undefined)
    return [
      e.store === undefined
        ? "stopped (Ctrl-C) before the server answered: no conversation was started."
        : `stopped (Ctrl-C) before the server answered; the store ${e.store} keeps what it held: run the same command again.`,
    ];
  const where = e.environment ? ` on ${e.environment}` : "";
  const lines = [
    `stopped (Ctrl-C): conversation ${e.conversationId}${where} was left open${e.finalizing ? " (its finalize was sent, not answered)" : ", not finalized"}.`,
    `  the server acknowledged ${e.acked} of the ${e.written} handed to it; it finalizes the conversation with what it holds after its idle timeout (\`npm start -- --idle-timeout\`, 120 s by default).`,
  ];
  if (e.store !== undefined) {
    lines.push(
      `  to resume it, run the same command again (the store ${e.store} keeps what is not acknowledged):`,
      `    ${rerunCommand(e.args)}`,
    );
  } else {
    lines.push(
      "  it cannot be resumed: this run kept its audio in memory only. To be able to resume after Ctrl-C, stream with --store DIR, e.g.:",
      `    ${rerunCommand([...e.args, "--store", ".tether/sdk-store"])}`,
    );
  }
  return lines;
}
