/**
 * The conversation registry of one ingress instance (functions/ingress/conversation-registry.ts):
 * one live socket per conversation (a newer socket supersedes the older one, and only after
 * the record's checks passed), opens of one conversation one at a time, and what the orphan
 * sweeper may take. The record store is an in-memory stand-in of ConversationStore's open
 * and inspect (the Firestore side is tested against the emulator in test/integration); the
 * sockets record what the registry asked of them.
 */
import { Timestamp } from "@google-cloud/firestore";
import { ConversationRegistry } from "../../functions/ingress/conversation-registry";
import type {
  ConversationStore,
  ListedConversation,
  OpenedConversation,
  OpenIntent,
} from "../../functions/ingress/conversation-store";
import type { AttachedSocket } from "../../functions/ingress/live-conversation";
import { ProtocolError } from "../../functions/ingress/protocol-error";
import type { IngressPublisher } from "../../functions/ingress/publisher";
import { createLogger } from "../../shared/logger";

const intent = (conversationId: string): OpenIntent => ({
  kind: "client_id",
  conversationId,
  userId: "u1",
  codec: "pcm16",
  sampleRate: 16000,
  chunkSize: 3200,
});

/** What the store was asked, in order; `refuse` makes the next `inspect` of a conversation throw; `gate` holds `open`. */
class StoreStandIn {
  readonly calls: string[] = [];
  readonly refuse = new Map<string, ProtocolError>();
  gate: Promise<void> = Promise.resolve();
  private ordinals = new Map<string, number>();

  async inspect(request: OpenIntent): Promise<void> {
    this.calls.push(`inspect ${request.conversationId}`);
    const refusal = this.refuse.get(request.conversationId);
    if (refusal === undefined) return;
    this.refuse.delete(request.conversationId);
    throw refusal;
  }

  async open(request: OpenIntent, sessionId: string): Promise<OpenedConversation> {
    this.calls.push(`open ${request.conversationId} ${sessionId}`);
    await this.gate;
    const ordinal = (this.ordinals.get(request.conversationId) ?? 0) + 1;
    this.ordinals.set(request.conversationId, ordinal);
    return {
      conversationId: request.conversationId,
      userId: request.userId,
      codec: request.codec,
      sampleRate: request.sampleRate,
      chunkSize: request.chunkSize,
      durablePosition: 0,
      sessionOrdinal: ordinal,
      created: ordinal === 1,
      updateTime: Timestamp.now(),
    };
  }

  async adopt(): Promise<OpenedConversation | undefined> {
    this.calls.push("adopt");
    return undefined;
  }
}

function socket(sessionId: string, log: string[]): AttachedSocket {
  return {
    sessionId,
    finalize: async () => undefined,
    supersede: async () => {
      log.push(`supersede ${sessionId}`);
    },
    settled: async () => undefined,
    eventsConfirmed: () => 0,
    abandoned: () => false,
  };
}

function setup() {
  const store = new StoreStandIn();
  const registry = new ConversationRegistry({
    store: store as unknown as ConversationStore,
    // Never reached on these paths: nothing is finalized.
    publisher: {} as IngressPublisher,
    logger: createLogger({ level: "silent" }),
    environment: "dev",
    idleTimeoutMs: 3_600_000,
  });
  return { store, registry };
}

describe("ConversationRegistry", () => {
  let registry: ConversationRegistry | undefined;
  afterEach(() => registry?.releaseAll());

  it("opens a conversation for a socket and holds it live", async () => {
    const setupResult = setup();
    registry = setupResult.registry;
    const log: string[] = [];
    const { conversation, opened } = await registry.open(intent("c1"), socket("s1", log));
    expect(opened.conversationId).toBe("c1");
    expect(conversation.id).toBe("c1");
    expect(conversation.attached?.sessionId).toBe("s1");
    expect(registry.has("c1")).toBe(true);
    expect(registry.size).toBe(1);
    expect(setupResult.store.calls).toEqual(["inspect c1", "open c1 s1"]);
  });

  it("supersedes the older socket before a newer one takes the conversation over", async () => {
    const setupResult = setup();
    registry = setupResult.registry;
    const log: string[] = [];
    const first = await registry.open(intent("c1"), socket("s1", log));
    const second = await registry.open(intent("c1"), socket("s2", log));
    expect(log).toEqual(["supersede s1"]);
    expect(second.conversation).toBe(first.conversation);
    expect(second.conversation.attached?.sessionId).toBe("s2");
    expect(second.opened.sessionOrdinal).toBe(2);
    expect(registry.size).toBe(1);
  });

  it("refuses on the record's checks without disturbing the socket that holds the conversation", async () => {
    const setupResult = setup();
    registry = setupResult.registry;
    const log: string[] = [];
    await registry.open(intent("c1"), socket("s1", log));
    setupResult.store.refuse.set("c1", new ProtocolError("forbidden", "another user's conversation"));
    await expect(registry.open(intent("c1"), socket("s2", log))).rejects.toMatchObject({ code: "forbidden" });
    expect(log).toEqual([]);
    expect(setupResult.store.calls).not.toContain("open c1 s2");
    expect(registry.conversations()[0]?.attached?.sessionId).toBe("s1");
  });

  it("runs opens of one conversation one at a time, and of others alongside", async () => {
    const setupResult = setup();
    registry = setupResult.registry;
    const { store } = setupResult;
    const log: string[] = [];
    let release: () => void = () => undefined;
    store.gate = new Promise((resolve) => {
      release = resolve;
    });
    const first = registry.open(intent("c1"), socket("s1", log));
    const second = registry.open(intent("c1"), socket("s2", log));
    const other = registry.open(intent("c2"), socket("s3", log));
    await new Promise((resolve) => setImmediate(resolve));
    // The second open of c1 has not begun; c2's open has.
    expect(store.calls).toEqual(["inspect c1", "inspect c2", "open c1 s1", "open c2 s3"]);
    release();
    await Promise.all([first, second, other]);
    expect(store.calls.slice(4)).toEqual(["inspect c1", "open c1 s2"]);
    expect(log).toEqual(["supersede s1"]);
  });

  it("goes on with the next open of a conversation after one failed", async () => {
    const setupResult = setup();
    registry = setupResult.registry;
    setupResult.store.refuse.set("c1", new ProtocolError("unauthorized", "expired"));
    const refused = registry.open(intent("c1"), socket("s1", []));
    const queued = registry.open(intent("c1"), socket("s2", []));
    await expect(refused).rejects.toBeInstanceOf(ProtocolError);
    await expect(queued).resolves.toMatchObject({ opened: { conversationId: "c1", sessionOrdinal: 1 } });
    expect(registry.conversations()[0]?.attached?.sessionId).toBe("s2");
  });

  it("leaves a conversation this instance serves to its own idle timer when the sweeper lists it", async () => {
    const setupResult = setup();
    registry = setupResult.registry;
    await registry.open(intent("c1"), socket("s1", []));
    const listed = { conversationId: "c1" } as ListedConversation;
    await expect(registry.finalizeOrphan(listed, "sweeper")).resolves.toEqual({ kind: "held" });
    expect(setupResult.store.calls).not.toContain("adopt");
  });

  it("reports a listed conversation whose record changed since it was listed", async () => {
    const setupResult = setup();
    registry = setupResult.registry;
    const listed = { conversationId: "c9" } as ListedConversation;
    await expect(registry.finalizeOrphan(listed, "sweeper")).resolves.toEqual({ kind: "changed" });
    expect(registry.has("c9")).toBe(false);
  });

  it("lets every conversation go at shutdown", async () => {
    const setupResult = setup();
    registry = setupResult.registry;
    await registry.open(intent("c1"), socket("s1", []));
    await registry.open(intent("c2"), socket("s2", []));
    registry.releaseAll();
    expect(registry.size).toBe(0);
    expect(registry.has("c1")).toBe(false);
  });
});
