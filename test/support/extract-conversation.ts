/**
 * Puts a conversation into the emulators exactly as ingress, persist-audio and the events
 * worker leave it (shared/firestore-schema.ts): the conversation document, one session
 * document per socket, chunk objects with their ChunkDocs (each chunk tagged with the
 * session that sent it), segment documents and assignment documents. Speaker-extraction
 * tests then only publish (or hand the handler) the extraction request.
 */
import crypto from "node:crypto";
import { Timestamp } from "@google-cloud/firestore";
import type { Codec, SampleRate } from "../../shared/audio-format";
import { chunksUpTo, frameOpusPackets } from "../../shared/audio-format";
import type { EnvironmentResources } from "../../shared/environment";
import {
  type AssignmentDoc,
  assignmentRef,
  type ChunkDoc,
  type ConversationDoc,
  chunkRef,
  conversationRef,
  type SegmentDoc,
  type SessionDoc,
  segmentRef,
  sessionRef,
} from "../../shared/firestore-schema";
import type { GcpClients } from "../../shared/gcp-clients";
import type { Segment } from "../../shared/messages";
import { SCHEMA_VERSION } from "../../shared/messages";
import { opusPacketSampleCount } from "../../shared/opus-decoder";
import { toPubSubCloudEvent } from "../../shared/pubsub-event";
import { chunkObjectName } from "../../shared/storage-paths";

export interface SeedSegment extends Omit<Segment, "text"> {
  readonly session_id: string;
  readonly text?: string;
}

export interface SeedConversation {
  readonly conversationId: string;
  readonly userId: string;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  /** Units per chunk (bytes for pcm16, packets for opus). */
  readonly chunkSize: number;
  /** pcm16: the stream's bytes. opus: its packets. */
  readonly audio: Buffer | readonly Buffer[];
  /** Sessions in order, each with the first chunk index it persisted. */
  readonly sessions: readonly { readonly id: string; readonly firstChunk: number }[];
  readonly segments: readonly SeedSegment[];
  readonly assignments?: readonly {
    readonly segment_id: string;
    readonly person_id: string;
    readonly session_id: string;
  }[];
  /** Chunk indexes left out (never persisted): no object and no ChunkDoc. */
  readonly omitChunks?: readonly number[];
  readonly status?: ConversationDoc["status"];
  /** ChunkDocs as written before they carried `samples`. */
  readonly withoutSamples?: boolean;
}

function sessionOf(seed: SeedConversation, index: number): string {
  let owner = seed.sessions[0]?.id ?? "s1";
  for (const s of seed.sessions) if (index >= s.firstChunk) owner = s.id;
  return owner;
}

function chunkBody(seed: SeedConversation, start: number, end: number): { body: Buffer; samples: number } {
  if (seed.codec === "pcm16") {
    const body = (seed.audio as Buffer).subarray(start, end);
    return { body, samples: body.length / 2 };
  }
  const packets = (seed.audio as readonly Buffer[]).slice(start, end);
  return {
    body: frameOpusPackets(packets),
    samples: packets.reduce((sum, p) => sum + opusPacketSampleCount(p, seed.sampleRate), 0),
  };
}

/** Runs `tasks` at most `limit` at a time (a long conversation has hundreds of chunk objects). */
async function runBounded(tasks: readonly (() => Promise<unknown>)[], limit: number): Promise<void> {
  for (let i = 0; i < tasks.length; i += limit) await Promise.all(tasks.slice(i, i + limit).map((task) => task()));
}

/** Writes the conversation; returns the total length in units. */
export async function seedConversation(
  env: { resources: EnvironmentResources; clients: GcpClients },
  seed: SeedConversation,
): Promise<{ finalPosition: number }> {
  const db = env.clients.firestore;
  const now = Timestamp.now();
  const finalPosition =
    seed.codec === "pcm16" ? (seed.audio as Buffer).length : (seed.audio as readonly Buffer[]).length;
  const conversation: ConversationDoc = {
    id: seed.conversationId,
    environment: env.resources.environment,
    user_id: seed.userId,
    codec: seed.codec,
    sample_rate: seed.sampleRate,
    channels: 1,
    chunk_size: seed.chunkSize,
    durable_position: finalPosition,
    status: seed.status ?? "finalized",
    final_position: finalPosition,
    finalize_reason: "client",
    created_at: now,
    updated_at: now,
    finalized_at: now,
  };
  await conversationRef(db, seed.conversationId).set(conversation);
  const omitted = new Set(seed.omitChunks ?? []);
  const chunks = chunksUpTo(finalPosition, seed.chunkSize);
  const writes: (() => Promise<unknown>)[] = [];
  for (const [i, session] of seed.sessions.entries()) {
    const doc: SessionDoc = {
      session_id: session.id,
      start_position: session.firstChunk * seed.chunkSize,
      started_at: now,
      ended_at: i < seed.sessions.length - 1 ? now : null,
      close_code: i < seed.sessions.length - 1 ? 1006 : 1000,
    };
    writes.push(() => sessionRef(db, seed.conversationId, session.id).set(doc));
  }
  for (const chunk of chunks) {
    if (omitted.has(chunk.index)) continue;
    const object = chunkObjectName(seed.conversationId, chunk.index, seed.codec);
    const { body, samples } = chunkBody(seed, chunk.start, chunk.end);
    const doc: Omit<ChunkDoc, "samples"> & { samples?: number } = {
      index: chunk.index,
      start: chunk.start,
      end: chunk.end,
      final: chunk.end === finalPosition,
      object,
      bytes: body.length,
      sha256: crypto.createHash("sha256").update(body).digest("hex"),
      session_id: sessionOf(seed, chunk.index),
      persisted_at: now,
      ...(seed.withoutSamples ? {} : { samples }),
    };
    writes.push(async () => {
      await env.clients.bucket.file(object).save(body, { resumable: false, contentType: "application/octet-stream" });
      await chunkRef(db, seed.conversationId, chunk.index).set(doc);
    });
  }
  for (const segment of seed.segments) {
    const doc: SegmentDoc = { text: "", ...segment, updated_at: now };
    writes.push(() => segmentRef(db, seed.conversationId, segment.id).set(doc));
  }
  for (const a of seed.assignments ?? []) {
    const doc: AssignmentDoc = { ...a, assigned_at: now };
    writes.push(() => assignmentRef(db, seed.conversationId, a.segment_id).set(doc));
  }
  await runBounded(writes, 32);
  return { finalPosition };
}

/** The CloudEvent the extraction subscription delivers for `conversationId`. */
export function extractionEvent(
  resources: EnvironmentResources,
  conversationId: string,
  options: {
    reason?: "finalized" | "speaker_assigned";
    deliveryAttempt?: number;
    environment?: string;
    id?: string;
  } = {},
) {
  return toPubSubCloudEvent(
    {
      id: options.id ?? crypto.randomUUID(),
      data: Buffer.from(JSON.stringify({ conversation_id: conversationId })),
      attributes: {
        schema_version: SCHEMA_VERSION,
        environment: options.environment ?? resources.environment,
        conversation_id: conversationId,
        reason: options.reason ?? "finalized",
      },
      ...(options.deliveryAttempt !== undefined ? { deliveryAttempt: options.deliveryAttempt } : {}),
    },
    resources.projectId,
    resources.topics.extraction,
    resources.subscriptions.extractSpeakers,
  );
}

/** Places `clips` (PCM16 bytes) at their start times in `durationMs` of silence, mixing overlaps. */
export function composePcm16(
  sampleRate: number,
  durationMs: number,
  clips: readonly { readonly atMs: number; readonly pcm: Buffer }[],
): Buffer {
  const total = Math.round((durationMs * sampleRate) / 1000);
  const mix = new Int32Array(total);
  for (const clip of clips) {
    const offset = Math.round((clip.atMs * sampleRate) / 1000);
    for (let i = 0; i < clip.pcm.length / 2 && offset + i < total; i += 1) {
      mix[offset + i] = (mix[offset + i] as number) + clip.pcm.readInt16LE(i * 2);
    }
  }
  const out = Buffer.alloc(total * 2);
  for (let i = 0; i < total; i += 1) out.writeInt16LE(Math.max(-32768, Math.min(32767, mix[i] as number)), i * 2);
  return out;
}
