/**
 * What extraction reads from Firestore about one conversation: its format and state, every
 * segment (from every session) and every speaker assignment; its chunk records are read
 * through functions/chunk-records.ts. Documents are validated here, at the edge, so a
 * malformed document is an error that names it rather than a wrong sample.
 */
import type { Firestore } from "@google-cloud/firestore";
import type { Codec, SampleRate } from "../../shared/audio-format";
import type { ConversationStatus } from "../../shared/conversation-values";
import {
  assignmentDocSchema,
  COLLECTIONS,
  CONVERTERS,
  conversationRef,
  parseDocument,
  readConversation,
} from "../../shared/firestore-schema";
import type { AssignmentInput, SegmentInput } from "./speaker-timeline";

export interface ConversationState {
  readonly id: string;
  readonly userId: string;
  readonly environment: string;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  readonly chunkSize: number;
  readonly status: ConversationStatus;
  readonly finalPosition: number | null;
  /** People listed by the previous extraction run, if any (their samples may need retiring). */
  readonly previouslyExtracted: string[];
  /** Deliveries that already waited for missing audio (see ExtractionSummary). */
  readonly missingAudioWaits: number;
  /** The extraction generation this run works for (shared/lifecycle.ts). */
  readonly generation: number;
  /** Whether that generation already has its finished result (a duplicate request: nothing to do). */
  readonly answered: boolean;
}

export async function loadConversation(db: Firestore, conversationId: string): Promise<ConversationState | undefined> {
  const c = (await readConversation(db, conversationId))?.data;
  if (c === undefined) return undefined;
  return {
    id: conversationId,
    userId: c.user_id,
    environment: c.environment,
    codec: c.codec,
    sampleRate: c.sample_rate,
    chunkSize: c.chunk_size,
    status: c.status,
    finalPosition: c.final_position,
    previouslyExtracted: (c.extraction?.people ?? []).map((p) => p.person_id),
    missingAudioWaits: c.extraction?.missing_audio_waits ?? 0,
    generation: c.extraction_generation ?? 0,
    answered:
      c.extraction !== undefined &&
      c.extraction.status !== "pending" &&
      c.extraction.generation === (c.extraction_generation ?? 0),
  };
}

/** The assignment fields extraction reads. */
const assignmentSchema = assignmentDocSchema.pick({ segment_id: true, person_id: true });

/** Every segment of the conversation, whichever session sent it. */
export async function loadSegments(db: Firestore, conversationId: string): Promise<SegmentInput[]> {
  const snapshot = await conversationRef(db, conversationId)
    .collection(COLLECTIONS.segments)
    .withConverter(CONVERTERS.segment)
    .get();
  return snapshot.docs.map((doc) => doc.data());
}

/** Every speaker assignment of the conversation, whichever session sent it. */
export async function loadAssignments(db: Firestore, conversationId: string): Promise<AssignmentInput[]> {
  const snapshot = await conversationRef(db, conversationId).collection(COLLECTIONS.speakerAssignments).get();
  return snapshot.docs.map((doc) => parseDocument(assignmentSchema, doc.ref.path, doc.data()));
}
