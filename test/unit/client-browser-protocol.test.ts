// The browser SDK's validator of server messages (zod/mini) judges every message as shared/protocol.ts's does.
// (The close codes, the query string and the frame limits are the same zod-free modules on both sides.)
import * as browser from "../../client/browser/protocol";
import * as shared from "../../shared/protocol";

const READY = {
  type: "ready",
  protocol: 1,
  environment: "staging",
  conversation_id: "conv_12345678",
  session_id: "s1",
  resume_token: "rt",
  position_unit: "byte",
  position: 0,
  chunk_size: 160000,
};

const MESSAGES: unknown[] = [
  READY,
  { ...READY, position_unit: "packet", position: 42 },
  { ...READY, position: -1 },
  { ...READY, position: 1.5 },
  { ...READY, protocol: 2 },
  { ...READY, environment: "" },
  { ...READY, conversation_id: "short" },
  { ...READY, chunk_size: 0 },
  { ...READY, session_id: undefined },
  { type: "ack", position: 5 },
  { type: "ack", position: -1 },
  { type: "ack" },
  { type: "finalized", conversation_id: "conv_12345678", position: 10 },
  { type: "finalized", conversation_id: "conv/12345678", position: 10 },
  { type: "error", code: "wrong_environment", message: "m", environment: "dev", expected_environment: "staging" },
  {
    type: "error",
    code: "conversation_finalized",
    message: "m",
    final_position: 10,
    durable_position: 8,
    finalize_reason: "idle_timeout",
    extra: true,
  },
  { type: "error", code: "conversation_finalized", message: "m", finalize_reason: "bored" },
  {
    type: "error",
    code: "conversation_finalized",
    message: "m",
    durable_position: 8,
    events_recorded: { s1: 2, s2: 0 },
  },
  { type: "error", code: "conversation_finalized", message: "m", events_recorded: { s1: -1 } },
  { type: "error", code: "conversation_finalized", message: "m", events_recorded: { s1: 1.5 } },
  { type: "error", code: "conversation_finalized", message: "m", events_recorded: 3 },
  { type: "error", code: "", message: "m" },
  { type: "error", code: "x" },
  { type: "goaway", reason: "draining", close_in_ms: 4000 },
  { type: "goaway", reason: "max_socket_age", close_in_ms: 0 },
  { type: "goaway", reason: "bored", close_in_ms: 4000 },
  { type: "goaway", reason: "draining", close_in_ms: -1 },
  { type: "goaway", reason: "draining" },
  { type: "hello" },
  null,
  "ready",
  [],
];

describe("client/browser/protocol.ts", () => {
  it.each(MESSAGES.map((m) => [JSON.stringify(m), m]))("judges %s as shared/protocol.ts does", (_, message) => {
    const mine = browser.serverMessageSchema.safeParse(message);
    const theirs = shared.serverMessageSchema.safeParse(message);
    expect(mine.success).toBe(theirs.success);
    if (mine.success && theirs.success) expect(mine.data).toEqual(theirs.data);
  });
});
