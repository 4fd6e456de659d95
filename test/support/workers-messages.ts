/**
 * Pub/Sub messages exactly as the ingress publishes them (shared/messages.ts), and the
 * CloudEvents a trigger would deliver for them.
 */
import crypto from "node:crypto";
import type { CloudEvent } from "@google-cloud/functions-framework";
import { type Codec, chunksUpTo, frameOpusPackets, type SampleRate } from "../../shared/audio-format";
import type { EnvironmentResources } from "../../shared/environment";
import {
  type AudioChunkAttributeStrings,
  type EventAttributeStrings,
  type EventBody,
  SCHEMA_VERSION,
} from "../../shared/messages";
import { type MessagePublishedData, toPubSubCloudEvent } from "../../shared/pubsub-event";

export interface OutgoingMessage {
  readonly data: Buffer;
  readonly attributes: Record<string, string>;
}

export interface ChunkStream {
  readonly environment: string;
  readonly conversationId: string;
  readonly userId: string;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  readonly chunkSize: number;
}

/**
 * The audio messages for a whole stream: pcm16 bytes or opus packets, cut at chunk
 * boundaries; `sessionOf(index)` names the session that sent each chunk.
 */
export function chunkMessages(
  stream: ChunkStream,
  audio: Buffer | readonly Buffer[],
  sessionOf: (chunkIndex: number) => string = () => "session-1",
): OutgoingMessage[] {
  const units = audio.length;
  return chunksUpTo(units, stream.chunkSize).map((range) => {
    const body = Buffer.isBuffer(audio)
      ? audio.subarray(range.start, range.end)
      : frameOpusPackets(audio.slice(range.start, range.end));
    return chunkMessage(
      stream,
      { index: range.index, start: range.start, end: range.end, final: range.end === units },
      body,
      sessionOf(range.index),
    );
  });
}

export function chunkMessage(
  stream: ChunkStream,
  chunk: { index: number; start: number; end: number; final: boolean },
  body: Buffer,
  sessionId = "session-1",
): OutgoingMessage {
  const attributes: AudioChunkAttributeStrings = {
    schema_version: SCHEMA_VERSION,
    environment: stream.environment,
    conversation_id: stream.conversationId,
    user_id: stream.userId,
    session_id: sessionId,
    codec: stream.codec,
    sample_rate: String(stream.sampleRate),
    channels: "1",
    chunk_size: String(stream.chunkSize),
    chunk_index: String(chunk.index),
    start: String(chunk.start),
    end: String(chunk.end),
    final: String(chunk.final) as "true" | "false",
  };
  return { data: body, attributes };
}

/**
 * An event as the ingress publishes it: `seq` is its number in the socket (0 for finalize,
 * and by default 1 for data events), `sessionOrdinal` the socket's ordinal (default 1).
 */
export function eventMessage(
  stream: Pick<ChunkStream, "environment" | "conversationId" | "userId">,
  sessionId: string,
  body: EventBody,
  revision: { seq?: number; sessionOrdinal?: number } = {},
): OutgoingMessage {
  const attributes: EventAttributeStrings = {
    schema_version: SCHEMA_VERSION,
    environment: stream.environment,
    conversation_id: stream.conversationId,
    user_id: stream.userId,
    session_id: sessionId,
    event_type: body.type,
    event_id: crypto.randomUUID(),
    session_ordinal: String(revision.sessionOrdinal ?? 1),
    seq: String(body.type === "finalize" ? 0 : (revision.seq ?? 1)),
  };
  return { data: Buffer.from(JSON.stringify(body)), attributes };
}

/** The CloudEvent a Pub/Sub trigger delivers for `message` (a fresh id per delivery unless given). */
export function deliveryOf(
  resources: EnvironmentResources,
  topic: keyof EnvironmentResources["topics"],
  message: OutgoingMessage,
  options: { id?: string; publishTime?: Date; deliveryAttempt?: number } = {},
): CloudEvent<MessagePublishedData> {
  const subscription = topic === "audio" ? resources.subscriptions.persistAudio : resources.subscriptions.events;
  return toPubSubCloudEvent(
    {
      id: options.id ?? crypto.randomUUID(),
      data: message.data,
      attributes: message.attributes,
      ...(options.publishTime ? { publishTime: options.publishTime } : {}),
      ...(options.deliveryAttempt !== undefined ? { deliveryAttempt: options.deliveryAttempt } : {}),
    },
    resources.projectId,
    resources.topics[topic],
    subscription,
  );
}

/** Deterministic pseudo-random PCM16 (a seeded LCG): every byte of it matters in comparisons. */
export function pcm16Noise(samples: number, seed = 1): Buffer {
  const out = Buffer.alloc(samples * 2);
  let state = seed >>> 0;
  for (let i = 0; i < samples; i += 1) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out.writeInt16LE((state >>> 16) - 32768, i * 2);
  }
  return out;
}
