// The ledgers both ends of `/v1/listen` keep, driven against each other: what the client
// holds and what the server acknowledges must agree across sockets, duplicates and
// confirmations in any order.
import { AckLedger } from "../../shared/ack-ledger";
import { EventSequence, HeldTexts } from "../../shared/text-ledger";

/** One socket between a client's ledgers and the server's, with Pub/Sub confirming events when told. */
class Socket {
  readonly server: { audio: AckLedger; events: EventSequence };
  /** Per event number on this socket: the audio position received when it arrived. */
  private readonly eventAt = new Map<number, number>();

  constructor(
    readonly sessionId: string,
    readonly client: { audio: AckLedger; texts: HeldTexts<string> },
    durable: number,
  ) {
    this.server = { audio: new AckLedger(durable), events: new EventSequence() };
    client.audio.resume(durable);
    client.texts.startSocket(sessionId);
    client.texts.forgetSends();
    client.texts.acknowledge(durable);
  }

  audio(units: number): void {
    this.client.audio.carry(units);
    this.server.audio.carry(units);
  }

  /** The client sends every held message this socket has not carried; the server numbers them. */
  texts(): number[] {
    return this.client.texts.unsent().map((message) => {
      const clientSeq = this.client.texts.sent(message, this.client.audio.carried);
      const serverSeq = this.server.events.next();
      expect(serverSeq).toBe(clientSeq);
      this.eventAt.set(serverSeq, this.server.audio.carried);
      return serverSeq;
    });
  }

  /**
   * The server makes `position` durable and acks it, but only once every event received
   * before that audio is confirmed (the rule the client's `acknowledge` relies on).
   */
  ack(position: number): ReturnType<AckLedger["acknowledge"]> | "waiting" {
    for (const [seq, at] of this.eventAt)
      if (at < position && seq > this.server.events.confirmedThrough) return "waiting";
    const verdict = this.server.audio.acknowledge(position);
    if (verdict === "advanced") this.deliverAck(position);
    return verdict;
  }

  /** The client reads the server's `ack`, as the session does. */
  private deliverAck(position: number): void {
    if (this.client.audio.acknowledge(position) === "advanced") this.client.texts.acknowledge(position);
  }
}

function client(durable = 0, restored: string[] = [], capacity = 8) {
  return { audio: new AckLedger(durable), texts: new HeldTexts<string>(capacity, restored) };
}

describe("the ack ledger at both ends", () => {
  it("acks cumulatively and monotonically, never beyond what the socket carried", () => {
    const ends = client();
    const socket = new Socket("s1", ends, 0);
    socket.audio(300);
    expect(socket.ack(200)).toBe("advanced");
    expect(ends.audio.acked).toBe(200);
    expect(socket.server.audio.acknowledge(200)).toBe("stale"); // a duplicate
    expect(ends.audio.acknowledge(100)).toBe("stale"); // out of order
    expect(ends.audio.acknowledge(301)).toBe("beyond");
    expect(socket.server.audio.acknowledge(301)).toBe("beyond");
    expect(ends.audio.acked).toBe(200);
  });

  it("resumes on a new socket at the durable position, and a retired socket still acks what it carried", () => {
    const ends = client(1_000);
    const first = new Socket("s1", ends, 1_000);
    first.audio(500);
    expect(first.ack(1_200)).toBe("advanced");
    const carriedOnFirst = ends.audio.carried;
    const second = new Socket("s2", ends, 1_200);
    expect(ends.audio.carried).toBe(1_200);
    expect(ends.audio.acked).toBe(1_200);
    // The first socket's late ack counts, bounded by what it carried, not by the second's.
    expect(ends.audio.acknowledge(1_400, carriedOnFirst)).toBe("advanced");
    expect(ends.audio.acknowledge(1_600, carriedOnFirst)).toBe("beyond");
    second.audio(100);
    expect(ends.audio.carried).toBe(1_300);
    // A ready at an older position never moves the durable position back.
    ends.audio.resume(1_000);
    expect(ends.audio.acked).toBe(1_400);
  });
});

describe("the text ledger at both ends", () => {
  it("numbers a socket's texts the same at both ends and holds them until an ack covers later audio", () => {
    const ends = client();
    const socket = new Socket("s1", ends, 0);
    ends.texts.hold("a");
    expect(socket.texts()).toEqual([1]);
    socket.audio(100);
    ends.texts.hold("b");
    expect(socket.texts()).toEqual([2]);
    socket.audio(100);
    // Audio after "a" is not acked until event 1 is confirmed.
    expect(socket.ack(100)).toBe("waiting");
    socket.server.events.confirm(1);
    expect(socket.ack(100)).toBe("advanced");
    expect(ends.audio.acked).toBe(100);
    expect(ends.texts.messages()).toEqual(["b"]);
    // An ack that ends exactly where "b" went out covers no audio after it.
    ends.texts.acknowledge(100);
    expect(ends.texts.messages()).toEqual(["b"]);
    socket.server.events.confirm(2);
    expect(socket.ack(200)).toBe("advanced");
    expect(ends.texts.messages()).toEqual([]);
  });

  it("confirms out of order and in duplicate without counting past a gap", () => {
    const events = new EventSequence();
    for (let i = 0; i < 5; i += 1) events.next();
    events.confirm(3);
    events.confirm(5);
    events.confirm(3);
    expect(events.confirmedThrough).toBe(0);
    expect(events.waitingOnGap).toBe(2);
    events.confirm(1);
    expect(events.confirmedThrough).toBe(1);
    events.confirm(2);
    expect(events.confirmedThrough).toBe(3);
    events.confirm(2); // a duplicate below the mark is not held
    events.confirm(9); // never numbered
    expect(events.waitingOnGap).toBe(1);
    events.confirm(4);
    expect(events.confirmedThrough).toBe(5);
    expect(events.waitingOnGap).toBe(0);
  });

  it("re-sends unacknowledged texts on the next socket, renumbered there, and a 4410 counts either socket", () => {
    const ends = client(0, ["restored"]);
    const first = new Socket("s1", ends, 0);
    ends.texts.hold("x");
    expect(first.texts()).toEqual([1, 2]);
    first.audio(50);
    first.server.events.confirm(2); // only "x" reached the events topic before the socket was lost
    const second = new Socket("s2", ends, 0);
    expect(ends.texts.unsent()).toEqual(["restored", "x"]);
    expect(second.texts()).toEqual([1, 2]);
    second.server.events.confirm(1);
    // A 4410: the conversation stored s1's events through 0 (a gap before 2) and s2's through 1.
    ends.texts.recorded({ s1: first.server.events.confirmedThrough, s2: second.server.events.confirmedThrough });
    expect(ends.texts.messages()).toEqual(["x"]);
    ends.texts.recorded({ s1: 2 });
    expect(ends.texts.messages()).toEqual([]);
  });

  it("holds at most its capacity, and a lost socket leaves everything to re-send", () => {
    const ends = client(0, [], 2);
    const socket = new Socket("s1", ends, 0);
    expect(ends.texts.hold("a")).toBe(true);
    expect(ends.texts.hold("b")).toBe(true);
    expect(ends.texts.hold("c")).toBe(false);
    expect(ends.texts.size).toBe(2);
    socket.texts();
    expect(ends.texts.unsent()).toEqual([]);
    ends.texts.forgetSends();
    expect(ends.texts.unsent()).toEqual(["a", "b"]);
    ends.texts.clear();
    expect(ends.texts.full).toBe(false);
  });
});
