/**
 * Text messages on `/v1/listen`, at both ends of one socket (PROTOCOL.md section 2, "Text
 * messages are acknowledged through the audio"). Both ends number a socket's text messages
 * 1..n in the order they went over it, so a number means the same message at each end:
 *
 * - the server (`EventSequence`) numbers what it received, learns out of order which of
 *   them Pub/Sub confirmed, and records "confirmed through n" with each durable position;
 * - the client (`HeldTexts`) holds each message until an `ack` covers audio it sent after
 *   the message, or a 4410's `events_recorded` counts it on a socket it went out on.
 *
 * Pure: no I/O, no timers (the client's browser build imports it).
 */

/** The server's side: one socket's events, numbered as received, confirmed in any order. */
export class EventSequence {
  private numbered = 0;
  private confirmedThroughSeq = 0;
  /** Confirmed numbers past the first gap; never more than the events not yet confirmed. */
  private readonly confirmedAhead = new Set<number>();

  /** The next text message came in: its number on this socket (1..n). */
  next(): number {
    this.numbered += 1;
    return this.numbered;
  }

  /** How many events this socket numbered. */
  get received(): number {
    return this.numbered;
  }

  /** Every event up to this number is confirmed, without a gap. */
  get confirmedThrough(): number {
    return this.confirmedThroughSeq;
  }

  /** Confirmations held back by a gap before them. */
  get waitingOnGap(): number {
    return this.confirmedAhead.size;
  }

  /** Pub/Sub confirmed event `seq`; a duplicate or a number never given out changes nothing. */
  confirm(seq: number): void {
    if (!Number.isInteger(seq) || seq <= this.confirmedThroughSeq || seq > this.numbered) return;
    this.confirmedAhead.add(seq);
    while (this.confirmedAhead.delete(this.confirmedThroughSeq + 1)) this.confirmedThroughSeq += 1;
  }
}

/** A text message the client holds until it is durable. */
export interface HeldText<T> {
  readonly message: T;
  /** The audio position on the current socket when it was sent there; undefined = not sent on it. */
  readonly sentAt: number | undefined;
  /** Every socket it was sent on, with its number among that socket's text messages. */
  readonly sends: ReadonlyArray<{ readonly sessionId: string; readonly seq: number }>;
}

interface Entry<T> {
  readonly message: T;
  sentAt: number | undefined;
  readonly sends: Array<{ readonly sessionId: string; readonly seq: number }>;
}

/** The client's side: text messages held, in the order queued, until they are durable. */
export class HeldTexts<T> {
  private entries: Entry<T>[];
  /** The current socket's session id, and how many text messages went out on it. */
  private socketId: string | undefined;
  private socketSent = 0;

  /** @param restored messages a store held after a restart (not sent on any socket yet). */
  constructor(
    readonly capacity: number,
    restored: readonly T[] = [],
  ) {
    this.entries = restored.map((message) => ({ message, sentAt: undefined, sends: [] }));
  }

  get size(): number {
    return this.entries.length;
  }

  get full(): boolean {
    return this.entries.length >= this.capacity;
  }

  messages(): T[] {
    return this.entries.map((entry) => entry.message);
  }

  held(): ReadonlyArray<HeldText<T>> {
    return this.entries;
  }

  /** Queues a message; false (nothing held) at capacity. */
  hold(message: T): boolean {
    if (this.full) return false;
    this.entries.push({ message, sentAt: undefined, sends: [] });
    return true;
  }

  /** A socket got its `ready` (session id `sessionId`): its numbering starts at 1. */
  startSocket(sessionId: string): void {
    this.socketId = sessionId;
    this.socketSent = 0;
  }

  /** Nothing held counts as sent on the current socket any more (it was lost, or replaced). */
  forgetSends(): void {
    for (const entry of this.entries) entry.sentAt = undefined;
  }

  /** The messages the current socket has not carried, in order. */
  unsent(): T[] {
    return this.entries.filter((entry) => entry.sentAt === undefined).map((entry) => entry.message);
  }

  /**
   * `message` (the held one, by identity) went out on the current socket when its audio had
   * reached `position`. Returns its number on that socket.
   */
  sent(message: T, position: number): number {
    this.socketSent += 1;
    const entry = this.entries.find((candidate) => candidate.message === message && candidate.sentAt === undefined);
    if (entry !== undefined) {
      entry.sentAt = position;
      if (this.socketId !== undefined) entry.sends.push({ sessionId: this.socketId, seq: this.socketSent });
    }
    return this.socketSent;
  }

  /**
   * The server acknowledged audio up to `position`: a message sent before that audio is
   * durable. Returns whether anything was dropped.
   */
  acknowledge(position: number): boolean {
    return this.keep((entry) => entry.sentAt === undefined || entry.sentAt >= position);
  }

  /**
   * A 4410's `events_recorded`: per socket, how many of its text messages the conversation
   * stored. A message counted on any socket it went out on is durable.
   */
  recorded(counts: Readonly<Record<string, number>>): boolean {
    return this.keep((entry) => !entry.sends.some((sent) => sent.seq <= (counts[sent.sessionId] ?? 0)));
  }

  /** Everything is durable (`finalized`). */
  clear(): void {
    this.entries = [];
  }

  private keep(predicate: (entry: Entry<T>) => boolean): boolean {
    const before = this.entries.length;
    this.entries = this.entries.filter(predicate);
    return this.entries.length !== before;
  }
}
