import { audioChunkAttributesSchema, eventBodySchema } from "../../shared/messages";

const chunk = {
  schema_version: "1",
  environment: "staging",
  conversation_id: "conv-12345678",
  user_id: "user-1",
  session_id: "s1",
  codec: "pcm16",
  sample_rate: "16000",
  channels: "1",
  chunk_size: "1000",
  chunk_index: "2",
  start: "2000",
  end: "3000",
  final: "false",
};

describe("audio chunk attributes", () => {
  it("parses the strings Pub/Sub carries into typed values", () => {
    const parsed = audioChunkAttributesSchema.parse(chunk);
    expect(parsed).toMatchObject({ sample_rate: 16000, chunk_index: 2, start: 2000, end: 3000, final: false });
  });

  it.each([
    ["a start off the chunk boundary", { start: "2001" }],
    ["a short chunk that is not final", { end: "2500" }],
    ["an end past the chunk", { end: "3001", final: "true" }],
    ["an unknown environment shape", { environment: "Prod" }],
    ["an unsupported sample rate", { sample_rate: "44100" }],
    ["a non-integer index", { chunk_index: "2.5" }],
    ["another schema version", { schema_version: "2" }],
  ])("rejects %s", (_, change) => {
    expect(audioChunkAttributesSchema.safeParse({ ...chunk, ...change }).success).toBe(false);
  });

  it("accepts a short final chunk", () => {
    expect(audioChunkAttributesSchema.parse({ ...chunk, end: "2500", final: "true" }).final).toBe(true);
  });
});

describe("event bodies", () => {
  it("accepts the protocol's segment shape", () => {
    const body = eventBodySchema.parse({
      type: "segments",
      segments: [
        { id: "s1", start: 12.5, end: 19, text: "hi", speaker: "SPEAKER_01", is_user: false, person_id: null },
      ],
    });
    expect(body.type).toBe("segments");
  });

  it("rejects a segment that ends before it starts, and path-like ids", () => {
    const segment = { id: "s1", start: 5, end: 4, text: "", speaker: "S", is_user: true, person_id: null };
    expect(eventBodySchema.safeParse({ type: "segments", segments: [segment] }).success).toBe(false);
    expect(
      eventBodySchema.safeParse({ type: "speaker_assigned", person_id: "../p", segment_ids: ["s1"] }).success,
    ).toBe(false);
  });
});
