/**
 * The Pub/Sub message schema: what the ingress publishes and the workers accept.
 *
 * Every message carries `schema_version`, `environment` and `conversation_id` as
 * attributes, so a worker can refuse a message from another environment before it reads
 * the body. Bodies are never empty (the functions framework does not convert an
 * attributes-only push into a CloudEvent).
 */
import { z } from "zod";
import { codecSchema, sampleRateSchema } from "./audio-format";
import { INGRESS_FINALIZE_REASONS } from "./conversation-values";
import { environmentNameSchema } from "./environment";
import { conversationIdSchema, personIdSchema, segmentIdSchema, storedTextSchema, userIdSchema } from "./identifiers";

export const SCHEMA_VERSION = "1";

/** A non-negative integer carried as a Pub/Sub attribute string. */
const unsignedAttribute = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,14})$/, { message: "must be a non-negative integer" })
  .transform(Number);

const booleanAttribute = z.enum(["true", "false"]).transform((v) => v === "true");

/** Attributes common to every message on every topic. */
const envelope = {
  schema_version: z.literal(SCHEMA_VERSION),
  environment: environmentNameSchema,
  conversation_id: conversationIdSchema,
};

/** Tags for messages that came from a client socket. */
const fromSession = {
  ...envelope,
  user_id: userIdSchema,
  session_id: z.string().min(1).max(64),
};

// ---------------------------------------------------------------- audio topic

/**
 * One chunk of a conversation's audio stream, units [start, end) of chunk `chunk_index`.
 * Body: pcm16 bytes, or Opus packets framed by `frameOpusPackets`.
 * Ordering key: the conversation id.
 */
export const audioChunkAttributesSchema = z
  .object({
    ...fromSession,
    codec: codecSchema,
    sample_rate: unsignedAttribute.pipe(sampleRateSchema),
    channels: z.literal("1"),
    chunk_size: unsignedAttribute,
    chunk_index: unsignedAttribute,
    start: unsignedAttribute,
    end: unsignedAttribute,
    /** The conversation's last chunk, which may be shorter than `chunk_size`. */
    final: booleanAttribute,
  })
  .superRefine((a, ctx) => {
    if (a.chunk_size < 1) ctx.addIssue({ code: "custom", path: ["chunk_size"], message: "must be positive" });
    if (a.start !== a.chunk_index * a.chunk_size)
      ctx.addIssue({ code: "custom", path: ["start"], message: "must equal chunk_index * chunk_size" });
    if (a.end <= a.start || a.end - a.start > a.chunk_size)
      ctx.addIssue({ code: "custom", path: ["end"], message: "must be within (start, start + chunk_size]" });
    if (!a.final && a.end - a.start !== a.chunk_size)
      ctx.addIssue({ code: "custom", path: ["end"], message: "a chunk that is not final must be full-size" });
  });

export type AudioChunkAttributes = z.infer<typeof audioChunkAttributesSchema>;
/** What the ingress writes (all strings, as Pub/Sub carries them). */
export type AudioChunkAttributeStrings = z.input<typeof audioChunkAttributesSchema>;

// ---------------------------------------------------------------- events topic

/**
 * PROTOCOL.md section 2: a transcript segment; times in seconds from position 0. Only `id`,
 * `start` and `end` are required; the others take their defaults, and unknown fields are
 * dropped (zod strips them), so what is stored is exactly this shape.
 */
export const segmentSchema = z
  .object({
    id: segmentIdSchema,
    start: z.number().finite().min(0),
    end: z.number().finite().min(0),
    text: storedTextSchema.max(100_000).default(""),
    speaker: storedTextSchema.max(64).nullable().default(null),
    is_user: z.boolean().default(false),
    person_id: personIdSchema.nullable().default(null),
  })
  .refine((s) => s.end >= s.start, { message: "end must not be before start", path: ["end"] });

export type Segment = z.infer<typeof segmentSchema>;
/** A segment as a client may send it: the optional fields may be left out. */
export type SegmentInput = z.input<typeof segmentSchema>;

export const EVENT_TYPES = ["segments", "speaker_assigned", "finalize"] as const;

export const eventAttributesSchema = z
  .object({
    ...fromSession,
    event_type: z.enum(EVENT_TYPES),
    /** Unique per event, for logs and de-duplication. */
    event_id: z.string().min(1).max(64),
    /** The socket's ordinal in its conversation (1 for the first socket): orders revisions. */
    session_ordinal: unsignedAttribute,
    /**
     * The event's number in its socket, from 1, counted by the conversation's event barrier
     * (shared/lifecycle.ts); 0 for a finalize event, which is a trigger, not data.
     */
    seq: unsignedAttribute,
  })
  .superRefine((a, ctx) => {
    if ((a.event_type === "finalize") !== (a.seq === 0))
      ctx.addIssue({ code: "custom", path: ["seq"], message: "is 0 exactly for finalize events" });
  });

export type EventAttributes = z.infer<typeof eventAttributesSchema>;
export type EventAttributeStrings = z.input<typeof eventAttributesSchema>;

export const eventBodySchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("segments"), segments: z.array(segmentSchema).min(1).max(1000) }),
  z.object({
    type: z.literal("speaker_assigned"),
    person_id: personIdSchema,
    segment_ids: z.array(segmentIdSchema).min(1).max(1000),
  }),
  z.object({
    type: z.literal("finalize"),
    /** Every unit before this position is in the audio topic. */
    final_position: z.number().int().min(0),
    reason: z.enum(INGRESS_FINALIZE_REASONS),
  }),
]);

export type EventBody = z.infer<typeof eventBodySchema>;

// ---------------------------------------------------------------- extraction topic

export const extractionAttributesSchema = z.object({
  ...envelope,
  reason: z.enum(["finalized", "speaker_assigned"]),
  /** The extraction generation the request was published for (shared/lifecycle.ts). */
  generation: unsignedAttribute.optional(),
});

export type ExtractionAttributes = z.infer<typeof extractionAttributesSchema>;
export type ExtractionAttributeStrings = z.input<typeof extractionAttributesSchema>;

/** Extraction bodies repeat the conversation id (bodies must not be empty). */
export const extractionBodySchema = z.object({ conversation_id: conversationIdSchema });
