import { type QueryDocumentSnapshot, Timestamp } from "@google-cloud/firestore";
import { CONVERTERS, type ConversationDoc, InvalidDocumentError, type PersonDoc } from "../../shared/firestore-schema";

// What the converter reads: a path and the stored fields (the emulator tests read real ones).
function stored(path: string, data: Record<string, unknown>): QueryDocumentSnapshot {
  return { ref: { path }, data: () => data } as unknown as QueryDocumentSnapshot;
}

const at = Timestamp.fromMillis(1_000);
const conversation = {
  id: "c1",
  environment: "dev",
  user_id: "u1",
  codec: "pcm16",
  sample_rate: 16000,
  channels: 1,
  chunk_size: 32000,
  created_at: at,
  updated_at: at,
  finalized_at: null,
  status: "in_progress",
  durable_position: 0,
  final_position: null,
  finalize_reason: null,
} satisfies Record<keyof Omit<ConversationDoc, OptionalKeys<ConversationDoc>>, unknown>;

type OptionalKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? K : never }[keyof T];

describe("document converters", () => {
  it("read a conversation with its optional fields absent, keeping Timestamps and unknown fields", () => {
    const read = CONVERTERS.conversation.fromFirestore(
      stored("conversations/c1", { ...conversation, active_session: "s1" }),
    );
    expect(read.created_at).toBeInstanceOf(Timestamp);
    expect(read.extraction).toBeUndefined();
    expect(read).toMatchObject({ status: "in_progress", active_session: "s1" });
  });

  it("name the document and the field when a read does not match", () => {
    const read = () =>
      CONVERTERS.conversation.fromFirestore(stored("conversations/c1", { ...conversation, created_at: "yesterday" }));
    expect(read).toThrow(InvalidDocumentError);
    expect(read).toThrow(/conversations\/c1 is malformed: created_at/);
  });

  it("refuse a final intent for a reason only the client or a delete gives", () => {
    const intent = (reason: string) =>
      CONVERTERS.conversation.fromFirestore(
        stored("conversations/c1", { ...conversation, final_intent: { final_position: 4, reason } }),
      );
    expect(intent("idle_timeout").final_intent).toEqual({ final_position: 4, reason: "idle_timeout" });
    expect(() => intent("client")).toThrow(/final_intent.reason/);
  });

  it("fill a profile's defaults and drop unknown sample fields", () => {
    const read: PersonDoc = CONVERTERS.person.fromFirestore(
      stored("users/k/people/p1", { id: "p1", user_id: "u1", updated_at: at }),
    );
    expect(read).toMatchObject({ samples: [], embedding: null });
    const sample = { uri: "gs://b/x.wav", sample_id: "s", conversation_id: "c1", segment_ids: [], duration_ms: 1 };
    const withSample = CONVERTERS.person.fromFirestore(
      stored("users/k/people/p1", { id: "p1", user_id: "u1", updated_at: at, samples: [{ ...sample, old: 1 }] }),
    );
    expect(withSample.samples).toEqual([sample]);
  });
});
