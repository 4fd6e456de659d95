/**
 * One socket's audio positions, kept the same way at both ends of `/v1/listen` (PROTOCOL.md
 * section 2): `carried` is the position after the last unit the socket carried (sent by the
 * client, received by the server), `acked` the durable position acknowledged. Acks are
 * cumulative and monotonic across all of a conversation's sockets, and never beyond what
 * the socket carried. Pure: no I/O, no timers (the client's browser build imports it).
 */

/** What an `ack` at some position does: moves `acked` on, changes nothing, or breaks the protocol. */
export type AckVerdict = "advanced" | "stale" | "beyond";

export class AckLedger {
  private carriedPosition: number;
  private ackedPosition: number;

  /** @param durable the position the conversation is known durable at (0, or a restored one). */
  constructor(durable = 0) {
    this.carriedPosition = durable;
    this.ackedPosition = durable;
  }

  /** The position after the last unit carried on the current socket. */
  get carried(): number {
    return this.carriedPosition;
  }

  get acked(): number {
    return this.ackedPosition;
  }

  /**
   * A socket starts at the server's durable `position` (its `ready`): nothing is carried on it
   * yet, and that position is durable.
   */
  resume(position: number): void {
    this.carriedPosition = position;
    this.durable(position);
  }

  /** The conversation is durable up to `position` (a `ready`, or `finalized`); never moves back. */
  durable(position: number): void {
    this.ackedPosition = Math.max(this.ackedPosition, position);
  }

  /** `units` more went out (client) or came in (server) on the current socket. */
  carry(units: number): void {
    this.carriedPosition += units;
  }

  /**
   * An ack at `position`, on a socket that carried audio up to `carried` (the current one by
   * default; a socket the client moved away from still acknowledges what it carried).
   */
  acknowledge(position: number, carried = this.carriedPosition): AckVerdict {
    if (position > carried) return "beyond";
    if (position <= this.ackedPosition) return "stale";
    this.ackedPosition = position;
    return "advanced";
  }
}
