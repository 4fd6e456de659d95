/**
 * Publishes a conversation's chunks to the environment's audio topic and its text messages
 * to the events topic, with the attributes of shared/messages.ts and the conversation id as
 * ordering key. A publish resolves once Pub/Sub confirmed it; only then may the ingress
 * call the audio durable.
 *
 * With ordering keys, a failed publish pauses its key in the client library: every later
 * message on that key fails until `resumePublishing(key)`. The failure is reported to the
 * caller (the socket closes, the client resumes from the durable position), and the key is
 * resumed so the re-sent audio can flow.
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
import type { Chunk } from "./chunker";

/** Who sent a message: the tags every message of a socket carries. */
export interface SessionTags {
  readonly environment: string;
  readonly conversationId: string;
  readonly userId: string;
  readonly sessionId: string;
}

export interface AudioFormat {
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  readonly chunkSize: number;
}

export function audioChunkAttributes(tags: SessionTags, format: AudioFormat, chunk: Chunk): AudioChunkAttributeStrings {
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

export function eventAttributes(tags: SessionTags, body: EventBody, eventId: string): EventAttributeStrings {
  return {
    schema_version: SCHEMA_VERSION,
    environment: tags.environment,
    conversation_id: tags.conversationId,
    user_id: tags.userId,
    session_id: tags.sessionId,
    event_type: body.type,
    event_id: eventId,
  };
}

/** Batching: a chunk is large, so send without waiting; many streams still share RPCs. */
const BATCHING = { maxMessages: 100, maxBytes: 4 * 1024 * 1024, maxMilliseconds: 2 };

export class IngressPublisher {
  private readonly audio: Topic;
  private readonly events: Topic;

  constructor(pubsub: PubSub, resources: EnvironmentResources) {
    this.audio = pubsub.topic(resources.topics.audio, { messageOrdering: true, batching: BATCHING });
    this.events = pubsub.topic(resources.topics.events, { messageOrdering: true, batching: BATCHING });
  }

  /** Resolves with the message id once Pub/Sub stored the chunk. */
  async publishChunk(tags: SessionTags, format: AudioFormat, chunk: Chunk): Promise<string> {
    if (chunk.body.length === 0) throw new Error(`chunk ${chunk.index} has an empty body`);
    return await this.publish(this.audio, {
      data: chunk.body,
      attributes: audioChunkAttributes(tags, format, chunk),
      orderingKey: tags.conversationId,
    });
  }

  /** Publishes a segments / speaker_assigned / finalize event; resolves with its event id. */
  async publishEvent(tags: SessionTags, body: EventBody): Promise<string> {
    const eventId = crypto.randomUUID();
    await this.publish(this.events, {
      data: Buffer.from(JSON.stringify(body)),
      attributes: eventAttributes(tags, body, eventId),
      orderingKey: tags.conversationId,
    });
    return eventId;
  }

  private async publish(
    topic: Topic,
    message: { data: Buffer; attributes: Record<string, string>; orderingKey: string },
  ): Promise<string> {
    try {
      return await topic.publishMessage(message);
    } catch (error) {
      topic.resumePublishing(message.orderingKey);
      throw error;
    }
  }

  /** Sends whatever is batched (graceful shutdown). */
  async flush(): Promise<void> {
    await Promise.all([this.audio.flush(), this.events.flush()]);
  }
}
