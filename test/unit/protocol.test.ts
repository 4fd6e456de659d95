import { clientMessageSchema, listenQueryString, parseListenQuery, serverMessageSchema } from "../../shared/protocol";

const query = (q: string) => parseListenQuery(new URLSearchParams(q));

describe("the listen query", () => {
  it("defaults to pcm16 at 16 kHz mono, a new conversation", () => {
    expect(query("")).toEqual({
      ok: true,
      query: {
        codec: "pcm16",
        sampleRate: 16000,
        channels: 1,
        conversationId: undefined,
        resumeToken: undefined,
        accessToken: undefined,
      },
    });
  });

  it("reads every parameter and round-trips what the SDK builds", () => {
    const built = listenQueryString({
      codec: "opus",
      sampleRate: 48000,
      conversationId: "abcdefgh",
      resumeToken: "r.t.x",
      accessToken: "a.b.c",
    });
    expect(query(built)).toEqual({
      ok: true,
      query: {
        codec: "opus",
        sampleRate: 48000,
        channels: 1,
        conversationId: "abcdefgh",
        resumeToken: "r.t.x",
        accessToken: "a.b.c",
      },
    });
  });

  it.each([
    ["codec=mp3", "bad_audio"],
    ["sample_rate=44100", "bad_audio"],
    ["sample_rate=16k", "bad_audio"],
    ["channels=2", "bad_audio"],
    ["conversation_id=short", "bad_request"],
    ["conversation_id=has%2Fslash", "bad_request"],
    ["codec=pcm16&codec=opus", "bad_request"],
    ["resume_token=", "bad_request"],
  ])("refuses %s as %s", (q, code) => {
    const result = query(q);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.code).toBe(code);
      expect(result.message.length).toBeGreaterThan(10);
    }
  });

  it("ignores parameters it does not know", () => {
    expect(query("codec=opus&utm_source=x").ok).toBe(true);
  });
});

describe("client messages", () => {
  const segment = {
    id: "s1",
    start: 12.5,
    end: 19,
    text: "hi",
    speaker: "SPEAKER_01",
    is_user: false,
    person_id: null,
  };

  it("accepts the three message types of PROTOCOL.md", () => {
    expect(clientMessageSchema.parse({ type: "segments", segments: [segment] }).type).toBe("segments");
    expect(
      clientMessageSchema.parse({ type: "speaker_assigned", person_id: "p1", segment_ids: ["s1", "s7"] }).type,
    ).toBe("speaker_assigned");
    expect(clientMessageSchema.parse({ type: "finalize" })).toEqual({ type: "finalize" });
  });

  it.each([
    [{ type: "hello" }],
    [{ type: "segments", segments: [] }],
    [{ type: "segments", segments: [{ ...segment, end: 1 }] }],
    [{ type: "speaker_assigned", person_id: "../p", segment_ids: ["s1"] }],
    [{ type: "speaker_assigned", person_id: "p1", segment_ids: [] }],
    [["finalize"]],
  ])("refuses %j", (message) => {
    expect(clientMessageSchema.safeParse(message).success).toBe(false);
  });
});

describe("server messages", () => {
  it("parses ready, ack, finalized and error (with extra fields)", () => {
    const ready = {
      type: "ready",
      protocol: 1,
      environment: "staging",
      conversation_id: "abcdefgh",
      session_id: "s1",
      resume_token: "t",
      position_unit: "byte",
      position: 0,
      chunk_size: 160000,
    };
    expect(serverMessageSchema.parse(ready)).toEqual(ready);
    expect(serverMessageSchema.parse({ type: "ack", position: 5 })).toEqual({ type: "ack", position: 5 });
    const error = serverMessageSchema.parse({
      type: "error",
      code: "wrong_environment",
      message: "m",
      environment: "staging",
      expected_environment: "prod",
    });
    expect(error).toMatchObject({ expected_environment: "prod" });
    expect(serverMessageSchema.safeParse({ type: "ack", position: -1 }).success).toBe(false);
  });
});
