/**
 * Each kind of id a client or a token supplies, taken to the edge of what the stores
 * hold, through the real ingress, workers and API: an id Firestore reserves is refused
 * with 4400 (400 from the API) naming the field and the rule, or it is stored and served
 * back unchanged. A token without `exp` is 4401 at the ingress and 401 at the API.
 */
import { SignJWT } from "jose";
import { signAccessToken } from "../../shared/auth";
import { apiRequest, buildToken } from "../support/fuzz-run";
import { type FuzzStack, startFuzzStack } from "../support/fuzz-stack";
import { type RawClient, rawConnect } from "../support/ingress-raw-client";

let fuzz: FuzzStack;
beforeAll(async () => {
  fuzz = await startFuzzStack();
});
afterAll(async () => {
  await fuzz?.stop();
});

const RESERVED_RULE = "must not start and end with '__' (Firestore reserves document ids matching __.*__)";

async function refusal(client: RawClient): Promise<{ close: number; error: Record<string, unknown> | undefined }> {
  const closed = await client.closed;
  return { close: closed.code, error: client.messages.find((m) => m.type === "error") };
}

async function api(path: string, token: string | undefined): Promise<{ status: number; body: unknown }> {
  const answer = await apiRequest(fuzz.target.apiUrl, {
    path,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: answer.status, body: JSON.parse(answer.body.toString() || "null") };
}

async function opened(
  userId: string,
  conversationId?: string,
): Promise<{ client: RawClient; ready: Record<string, unknown> }> {
  const options = {
    token: await signAccessToken(fuzz.target.tokenKeys, userId),
    ...(conversationId ? { conversationId } : {}),
  };
  const client = rawConnect(fuzz.target.ingressUrl, options);
  return { client, ready: await client.next("ready") };
}

test("conversation_id: a reserved id is 4400 at the ingress and 400 at the API, naming the field and the rule", async () => {
  const client = rawConnect(fuzz.target.ingressUrl, {
    token: await signAccessToken(fuzz.target.tokenKeys, "u-edge"),
    conversationId: "__reserved__",
  });
  expect(await refusal(client)).toEqual({
    close: 4400,
    error: { type: "error", code: "bad_request", message: `query parameter conversation_id ${RESERVED_RULE}` },
  });
  const answer = await api("/v1/conversations/__reserved__", await signAccessToken(fuzz.target.tokenKeys, "u-edge"));
  expect(answer).toEqual({
    status: 400,
    body: { error: { code: "bad_request", message: `conversation id ${RESERVED_RULE}` } },
  });
});

test("segment_id: a reserved id is 4400 naming segments.N.id; the valid segments beside it are not half-stored", async () => {
  const { client, ready } = await opened("u-edge");
  client.json({
    type: "segments",
    segments: [
      { id: "good-1", start: 0, end: 1 },
      { id: "__bad__", start: 1, end: 2 },
    ],
  });
  expect(await refusal(client)).toEqual({
    close: 4400,
    error: {
      type: "error",
      code: "bad_request",
      message: `malformed message: segments.1.id (segment "__bad__") ${RESERVED_RULE}`,
    },
  });
  // The whole batch was refused before anything was acknowledged: nothing of it is stored.
  const segments = await api(
    `/v1/conversations/${String(ready.conversation_id)}/segments`,
    await signAccessToken(fuzz.target.tokenKeys, "u-edge"),
  );
  expect(segments).toMatchObject({ status: 200, body: { segments: [] } });
});

test("person_id: a reserved id is 4400 in speaker_assigned and in a segment, and 400 at the API", async () => {
  const assigned = await opened("u-edge");
  assigned.client.json({ type: "speaker_assigned", person_id: "__p__", segment_ids: ["s1"] });
  expect(await refusal(assigned.client)).toMatchObject({
    close: 4400,
    error: { message: `malformed message: person_id ${RESERVED_RULE}` },
  });
  const inSegment = await opened("u-edge");
  inSegment.client.json({ type: "segments", segments: [{ id: "s1", start: 0, end: 1, person_id: "__p__" }] });
  expect(await refusal(inSegment.client)).toMatchObject({
    close: 4400,
    error: { message: `malformed message: segments.0.person_id (segment "s1") ${RESERVED_RULE}` },
  });
  const answer = await api("/v1/people/__p__", await signAccessToken(fuzz.target.tokenKeys, "u-edge"));
  expect(answer).toEqual({
    status: 400,
    body: { error: { code: "bad_request", message: `person id ${RESERVED_RULE}` } },
  });
});

test("session_id (minted by the ingress) and user_id (any storable sub, reserved-looking too) are stored and served back unchanged", async () => {
  const userId = "__user/with.odd:chars😀__";
  const { client, ready } = await opened(userId, "ok-edge-conversation");
  client.send(Buffer.alloc(1600));
  client.json({ type: "finalize" });
  await client.next("finalized");
  const token = await signAccessToken(fuzz.target.tokenKeys, userId);
  // The API finds the conversation as this user's: the stored user id is the sub, unchanged.
  const answer = await api("/v1/conversations/ok-edge-conversation", token);
  expect(answer.status).toBe(200);
  expect((answer.body as { sessions: Array<{ session_id: string }> }).sessions.map((s) => s.session_id)).toEqual([
    ready.session_id,
  ]);
  // Another user is told it belongs to someone else, which needs the stored owner to be exact.
  expect(
    (await api("/v1/conversations/ok-edge-conversation", await signAccessToken(fuzz.target.tokenKeys, "__user__")))
      .status,
  ).toBe(403);
});

test("user_id: a sub no store can hold (a lone surrogate) is 4400 and 400 naming sub", async () => {
  const token = buildToken(
    { delivery: "header", alg: "HS256", key: "environment", sub: "u\ud800", exp: "future", nbf: "absent" },
    fuzz.target.tokenKeys,
  );
  const client = rawConnect(fuzz.target.ingressUrl, { token });
  expect(await refusal(client)).toEqual({
    close: 4400,
    error: {
      type: "error",
      code: "bad_request",
      message: "access token claim sub must be valid Unicode (every store holds UTF-8)",
    },
  });
  expect(await api("/v1/conversations/ok-edge-conversation", token)).toEqual({
    status: 400,
    body: {
      error: { code: "bad_request", message: "access token claim sub must be valid Unicode (every store holds UTF-8)" },
    },
  });
});

test("a token without exp is 4401 at the ingress and 401 at the API", async () => {
  const noExp = await new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("u-edge")
    .sign(new TextEncoder().encode(fuzz.target.tokenKeys.current.secret));
  const client = rawConnect(fuzz.target.ingressUrl, { token: noExp });
  expect(await refusal(client)).toMatchObject({ close: 4401, error: { code: "unauthorized" } });
  const answer = await api("/v1/conversations/ok-edge-conversation", noExp);
  expect(answer).toEqual({
    status: 401,
    body: { error: { code: "unauthorized", message: "unauthorized: token claim `exp` is missing" } },
  });
});
