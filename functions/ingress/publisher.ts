/**
 * Publishes a conversation's chunks to the environment's audio topic and its text messages
 * to the events topic, with the attributes of shared/messages.ts. A publish resolves once
 * Pub/Sub confirmed it; only then may the ingress call the audio durable.
 *
 * No ordering keys: nothing downstream depends on delivery order (chunks are stored by
 * index, events carry revisions and are counted by the lifecycle's barrier), and an ordering
 * key would cap one conversation at Pub/Sub's 1 MB/s per key.
 */
import crypto from "node:crypto";
import type { PubSub, Topic } from "@google-cloud/pubsub";
import type { Codec, SampleRate } from "../../shared/audio-format";
import type { EnvironmentResources } from "../../shared/environment";
import {
  type AudioChunkAttributeStrings,
  type EventAttributeStrings,
  type EventBody,
  SCHEMA_VERSION,
} from "../../shared/messages";
import type { CutChunk } from "./chunker";
import { endpointOf, PublishQueue, PublishRpc } from "./publish-rpc";

/** Who sent a message: the tags every message of a socket carries. */
export interface SessionTags {
  readonly environment: string;
  readonly conversationId: string;
  readonly userId: string;
  readonly sessionId: string;
  /** The socket's ordinal in the conversation (shared/lifecycle.ts `eventRevision`). */
  readonly sessionOrdinal: number;
}

export interface AudioFormat {
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  readonly chunkSize: number;
}

/** The attributes every message of a socket carries, on either topic. */
function senderAttributes(
  tags: SessionTags,
): Pick<EventAttributeStrings, "schema_version" | "environment" | "conversation_id" | "user_id" | "session_id"> {
  return {
    schema_version: SCHEMA_VERSION,
    environment: tags.environment,
    conversation_id: tags.conversationId,
    user_id: tags.userId,
    session_id: tags.sessionId,
  };
}

/** One object literal, not a spread of `senderAttributes`: V8 builds such a spread far slower, and this runs per chunk. */
export function audioChunkAttributes(
  tags: SessionTags,
  format: AudioFormat,
  chunk: CutChunk,
): AudioChunkAttributeStrings {
  return {
    schema_version: SCHEMA_VERSION,
    environment: tags.environment,
    conversation_id: tags.conversationId,
    user_id: tags.userId,
    session_id: tags.sessionId,
    codec: format.codec,
    sample_rate: String(format.sampleRate),
    channels: "1",
    chunk_size: String(format.chunkSize),
    chunk_index: String(chunk.index),
    start: String(chunk.start),
    end: String(chunk.end),
    final: chunk.final ? "true" : "false",
  };
}

/** `seq`: the event's number in its socket, from 1; 0 for a finalize event. */
export function eventAttributes(
  tags: SessionTags,
  body: EventBody,
  eventId: string,
  seq: number,
): EventAttributeStrings {
  return {
    ...senderAttributes(tags),
    event_type: body.type,
    event_id: eventId,
    session_ordinal: String(tags.sessionOrdinal),
    seq: String(seq),
  };
}

/** Batching: a chunk is large, so send without waiting; many streams still share RPCs (the benches use it too). */
export const PUBLISH_BATCHING = { maxMessages: 100, maxBytes: 4 * 1024 * 1024, maxMilliseconds: 2 };

/**
 * How long a chunk that follows another within that time waits for more to share its RPC.
 * Each publish RPC costs the client far more CPU than each message in it, and chunks come
 * from many sockets at a busy instance: a few share an RPC there, while a lone chunk (a quiet
 * instance, a test) still leaves at once (bench/NOTES.md has the figures).
 */
export const CHUNK_GATHER_MS = 25;

/** Whether each chunk waits for company: yes when it came within `windowMs` of the one before. */
export class ChunkGathering {
  private lastAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly windowMs: number) {}

  next(now: number): boolean {
    const gather = now - this.lastAt < this.windowMs;
    this.lastAt = now;
    return gather;
  }
}

export class IngressPublisher {
  /** Chunks go out through our own Publish RPC (publish-rpc.ts); events through the client library. */
  private readonly audioTopic: Topic;
  private readonly audioRpc: PublishRpc;
  private readonly audio: PublishQueue;
  private readonly gathering = new ChunkGathering(CHUNK_GATHER_MS);
  private readonly events: Topic;

  constructor(pubsub: PubSub, resources: EnvironmentResources) {
    this.audioTopic = pubsub.topic(resources.topics.audio);
    this.audioRpc = new PublishRpc(endpointOf(pubsub), this.audioTopic.name);
    this.audio = new PublishQueue(this.audioRpc, PUBLISH_BATCHING);
    this.events = pubsub.topic(resources.topics.events, { batching: PUBLISH_BATCHING });
  }

  /**
   * Resolves with the message id once Pub/Sub stored the chunk. The chunk's body is sent as
   * it is: it must not change until then.
   */
  async publishChunk(tags: SessionTags, format: AudioFormat, chunk: CutChunk): Promise<string> {
    if (chunk.body.length === 0) throw new Error(`chunk ${chunk.index} has an empty body`);
    const windowMs = this.gathering.next(performance.now()) ? CHUNK_GATHER_MS : 0;
    return await this.audio.publish(
      { data: chunk.body, attributes: audioChunkAttributes(tags, format, chunk) },
      windowMs,
    );
  }

  /**
   * Publishes a segments / speaker_assigned event (`seq` from 1) or a finalize trigger
   * (`seq` 0); resolves with its event id once Pub/Sub stored it.
   */
  async publishEvent(tags: SessionTags, body: EventBody, seq: number): Promise<string> {
    const eventId = crypto.randomUUID();
    await this.events.publishMessage({
      data: Buffer.from(JSON.stringify(body)),
      attributes: eventAttributes(tags, body, eventId, seq),
    });
    return eventId;
  }

  /**
   * Opens the channels before the first socket needs them (reads both topics): the first
   * publish of a fresh instance otherwise pays for it, in the ack pause of a client that was
   * just handed over to it.
   */
  async warmUp(): Promise<void> {
    this.audioRpc.connect();
    await Promise.all([this.audioTopic.getMetadata(), this.events.getMetadata()]);
  }

  /** Sends whatever is batched. */
  async flush(): Promise<void> {
    await Promise.all([this.audio.flush(), this.events.flush()]);
  }

  /** Sends whatever is batched, then closes the audio RPC's connection (graceful shutdown). */
  async close(): Promise<void> {
    await this.flush();
    this.audioRpc.close();
  }
}
