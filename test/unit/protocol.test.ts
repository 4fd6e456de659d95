import {
  CLOSE_CODES,
  clientActionForClose,
  clientMessageSchema,
  ERROR_CODES,
  errorCodeForClose,
  listenQueryString,
  parseListenQuery,
  serverMessageSchema,
} from "../../shared/protocol";

const query = (q: string) => parseListenQuery(new URLSearchParams(q));

describe("the close-code table", () => {
  it("maps every error code of PROTOCOL.md to its close code", () => {
    expect(Object.fromEntries(ERROR_CODES.map((code) => [code, CLOSE_CODES[code].closeCode]))).toEqual({
      internal: 1011,
      restarting: 1012,
      overloaded: 1013,
      superseded: 4001,
      bad_request: 4400,
      unauthorized: 4401,
      forbidden: 4403,
      wrong_environment: 4409,
      conversation_finalized: 4410,
      frame_too_large: 4413,
      bad_audio: 4415,
    });
  });

  it("tells a client what to do: resume on faults, stop on everything else", () => {
    expect(clientActionForClose(1000)).toBe("stop");
    expect(clientActionForClose(1006)).toBe("resume"); // the network dropped
    expect(clientActionForClose(1011)).toBe("resume");
    expect(clientActionForClose(1012)).toBe("resume");
    expect(clientActionForClose(1013)).toBe("resume_after_delay");
    expect(clientActionForClose(4001)).toBe("stop_socket");
    expect(clientActionForClose(4401)).toBe("reauthenticate");
    expect(clientActionForClose(4409)).toBe("reconnect_pinned_environment");
    expect(clientActionForClose(4410)).toBe("start_new_conversation");
    for (const code of [4400, 4413, 4415]) expect(clientActionForClose(code)).toBe("fix_client");
    expect(errorCodeForClose(4409)).toBe("wrong_environment");
    expect(errorCodeForClose(1006)).toBeUndefined();
  });
});

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
