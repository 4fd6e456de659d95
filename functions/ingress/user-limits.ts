/**
 * The per-user limits (PROTOCOL.md close code 4429, shared/user-limits.ts), kept across
 * every ingress instance of the environment in its Firestore database:
 *
 * - Live sockets: each socket holds a lease, `users/{user}/live_sockets/{session}`, whose
 *   `expires_at` this instance pushes forward every third of the lease's life while the
 *   socket is open, and which it deletes at the close. A socket of an instance that died by
 *   SIGKILL stops counting once its lease expires; nothing needs to clean up after it (the
 *   database's TTL policy on `expires_at` removes the documents later).
 * - Conversations per minute: each created conversation leaves
 *   `users/{user}/conversation_starts/{conversation}`; the starts of the last 60 s are counted.
 * - A conversation's audio and segments: counted on the socket (`audioLimitUnits`,
 *   `SegmentQuota`) against what the record and the segments collection already hold.
 *
 * Each check is one bounded read (at most the limit plus two documents, or a count
 * aggregation capped at the limit). Two sockets of one user opening at the same moment may
 * both pass at the limit's edge: the limits protect everyone else from one greedy user,
 * they are not a quota to the unit.
 */
import { type Firestore, Timestamp } from "@google-cloud/firestore";
import { type Codec, chunkSizeUnits, type SampleRate } from "../../shared/audio-format";
import { queryOf } from "../../shared/firestore-query";
import {
  COLLECTIONS,
  conversationRef,
  conversationStartRef,
  liveSocketRef,
  userRef,
} from "../../shared/firestore-schema";
import type { Logger } from "../../shared/logger";
import type { UserLimitName, UserLimits } from "../../shared/user-limits";
import { ProtocolError } from "./protocol-error";

const RATE_WINDOW_MS = 60_000;
/** Firestore's largest write batch. */
const BATCH_WRITES = 500;

/** The 4429 refusal: the error names the limit and its value. */
export function tooMany(limit: UserLimitName, value: number, message: string): ProtocolError {
  return new ProtocolError("too_many", `${message} (limit ${limit}: ${value})`, { limit, value });
}

/** The largest stream position a conversation may reach (an Opus packet counts as 20 ms). Pure. */
export function audioLimitUnits(codec: Codec, sampleRate: SampleRate, seconds: number): number {
  return chunkSizeUnits(codec, sampleRate, seconds);
}

/** How many stream units an audio frame adds: its bytes (pcm16) or one packet (Opus). Pure. */
export function frameUnits(codec: Codec, frame: Uint8Array): number {
  return codec === "pcm16" ? frame.length : 1;
}

/**
 * Distinct segment ids of one conversation: those stored when this instance took it up
 * (`stored`), plus the new ids received here since. Re-sending an id counts once here; an
 * id re-sent after the conversation moved from another instance may count twice.
 */
export class SegmentQuota {
  private readonly seen = new Set<string>();

  constructor(
    private readonly stored: number,
    readonly limit: number,
  ) {}

  /** Admits a segments message's ids, or says the conversation would pass its limit (nothing is counted then). */
  admit(ids: readonly string[]): boolean {
    const fresh = new Set(ids.filter((id) => !this.seen.has(id)));
    if (this.stored + this.seen.size + fresh.size > this.limit) return false;
    for (const id of fresh) this.seen.add(id);
    return true;
  }
}

/** Segments already stored for a conversation, counted up to `limit` (one aggregation). */
export async function storedSegments(db: Firestore, conversationId: string, limit: number): Promise<number> {
  const snapshot = await conversationRef(db, conversationId)
    .collection(COLLECTIONS.segments)
    .limit(limit + 1)
    .count()
    .get();
  return snapshot.data().count;
}

export interface UserLimitsOptions {
  readonly limits: UserLimits;
  /** How long a lease counts without renewal (a socket of a killed instance, at most this long). */
  readonly leaseTtlMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

export class UserLimitsGate {
  /** This instance's leases, by session id, to renew and release. */
  private readonly leases = new Map<string, string>();
  private renewTimer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> = Promise.resolve();
  private readonly now: () => number;

  constructor(
    private readonly db: Firestore,
    private readonly options: UserLimitsOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  get limits(): UserLimits {
    return this.options.limits;
  }

  /**
   * Admits a socket of `userId` opening `conversationId` and takes its lease; 4429 when the
   * user's other conversations already hold `live_sockets` sockets. The conversation's own
   * older socket does not count: the new one supersedes it.
   */
  async admitSocket(userId: string, conversationId: string, sessionId: string): Promise<void> {
    const max = this.options.limits.live_sockets;
    const now = this.now();
    // Counted by conversation: after an instance dies, each of its conversations holds the
    // dead socket's lease and its resumed socket's until the first expires. The read stays
    // bounded; a conversation with many leases can only make the count lower.
    const live = await queryOf(userRef(this.db, userId).collection(COLLECTIONS.liveSockets))
      .filter("expires_at", ">", Timestamp.fromMillis(now))
      .select("conversation_id")
      .limit(3 * (max + 1))
      .get();
    const others = new Set(
      live.docs.map((doc): unknown => doc.get("conversation_id")).filter((id) => id !== conversationId),
    ).size;
    if (others >= max) {
      throw tooMany("live_sockets", max, `user ${userId} has ${max} live sockets: close one, or resume after a delay`);
    }
    await liveSocketRef(this.db, userId, sessionId).set({
      conversation_id: conversationId,
      expires_at: Timestamp.fromMillis(now + this.options.leaseTtlMs),
    });
    this.leases.set(sessionId, userId);
  }

  /** The socket closed: its lease goes (a failure only leaves it to expire). */
  async releaseSocket(sessionId: string): Promise<void> {
    const userId = this.leases.get(sessionId);
    if (userId === undefined) return;
    this.leases.delete(sessionId);
    await liveSocketRef(this.db, userId, sessionId).delete();
  }

  /** The segment quota of a conversation this instance takes up (a created one holds no segments yet). */
  async segmentQuota(conversationId: string, created: boolean): Promise<SegmentQuota> {
    const max = this.options.limits.conversation_segments;
    return new SegmentQuota(created ? 0 : await storedSegments(this.db, conversationId, max), max);
  }

  /** Admits a new conversation of `userId` (4429 past `conversations_per_minute`) and records its start. */
  async admitConversation(userId: string, conversationId: string): Promise<void> {
    const max = this.options.limits.conversations_per_minute;
    const now = this.now();
    const recent = await queryOf(userRef(this.db, userId).collection(COLLECTIONS.conversationStarts))
      .filter("started_at", ">", Timestamp.fromMillis(now - RATE_WINDOW_MS))
      .limit(max)
      .count();
    if (recent >= max) {
      throw tooMany(
        "conversations_per_minute",
        max,
        `user ${userId} started ${max} conversations in the last minute: start this one after a delay`,
      );
    }
    await conversationStartRef(this.db, userId, conversationId).set({
      started_at: Timestamp.fromMillis(now),
      expires_at: Timestamp.fromMillis(now + 2 * RATE_WINDOW_MS),
    });
  }

  /** Renews this instance's leases every third of their life, until `stop`. */
  start(): void {
    this.renewTimer = setInterval(() => {
      this.renewing = this.renewAll().catch((error: unknown) =>
        this.options.logger.warn(
          { err: error, conversation_id: null },
          "socket leases not renewed: retried next round",
        ),
      );
    }, this.options.leaseTtlMs / 3);
    this.renewTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.renewTimer);
    await this.renewing;
  }

  /** Pushes every lease of this instance forward (set, not update: a lease removed meanwhile comes back). */
  async renewAll(): Promise<void> {
    const expiresAt = Timestamp.fromMillis(this.now() + this.options.leaseTtlMs);
    const leases = [...this.leases];
    for (let i = 0; i < leases.length; i += BATCH_WRITES) {
      const batch = this.db.batch();
      for (const [sessionId, userId] of leases.slice(i, i + BATCH_WRITES)) {
        batch.set(liveSocketRef(this.db, userId, sessionId), { expires_at: expiresAt }, { merge: true });
      }
      await batch.commit();
    }
    // A socket that closed while the batch was in flight: its lease must not outlive it.
    const released = leases.filter(([sessionId]) => !this.leases.has(sessionId));
    await Promise.all(released.map(([sessionId, userId]) => liveSocketRef(this.db, userId, sessionId).delete()));
  }
}
