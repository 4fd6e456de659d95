/**
 * Plays fuzz cases (test/support/fuzz-traffic.ts) against a running environment of the
 * local stack (real ingress, workers and API on the emulators) and checks what the
 * contract promises. Every check throws an Error that says what was sent and what came
 * back, so fast-check can shrink the case and print it.
 *
 * For each socket:
 * - it never closes with 1011, and closes with the code the contract names for the first
 *   thing it breaks (or 1000 after `finalized`);
 * - acks are monotonic and never beyond the audio it sent;
 * - everything acknowledged is later visible through the API unchanged: the acked audio
 *   (byte for byte for pcm16; its decoded length for Opus), every durable segment with its
 *   fields and its speaker assignment, and after `finalized` the whole conversation.
 */
import crypto from "node:crypto";
import http from "node:http";
import WebSocket from "ws";
import type { SegmentView } from "../../functions/api/conversations";
import { checkOpusPacket } from "../../shared/opus-packet";
import { listenSubprotocols } from "../../shared/protocol";
import { keyBytes, type TokenKeys } from "../../shared/token-keys";
import { WAV_HEADER_BYTES } from "../../shared/wav";
import {
  type Action,
  type Expectation,
  expectation,
  frameBytes,
  queryParams,
  type SocketCase,
  type TokenCase,
} from "./fuzz-traffic";

export interface FuzzTarget {
  readonly ingressUrl: string;
  readonly apiUrl: string;
  /** The environment's key set: a current and a retiring key, each with its `kid`. */
  readonly tokenKeys: TokenKeys;
}

/** How long one socket may wait for the pipeline; only bounds a hung case, asserts nothing about speed. */
const PIPELINE_WAIT_MS = Number(process.env.FUZZ_WAIT_MS ?? 20_000);

// ---------------------------------------------------------------- tokens

/** A compact JWS built by hand, so that any header and claims (a lone surrogate too) can be sent. */
export function buildToken(
  t: TokenCase,
  keys: TokenKeys,
  nowSeconds = Math.floor(Date.now() / 1000),
): string | undefined {
  if (t.delivery === "none") return undefined;
  const payload: Record<string, unknown> = {};
  if (t.sub !== null) payload.sub = t.sub;
  if (t.exp === "future") payload.exp = nowSeconds + 600;
  if (t.exp === "past") payload.exp = nowSeconds - 120;
  if (t.exp === "skew_in") payload.exp = nowSeconds - 10;
  if (t.exp === "string") payload.exp = String(nowSeconds + 600);
  if (t.nbf === "past") payload.nbf = nowSeconds - 60;
  if (t.nbf === "skew_in") payload.nbf = nowSeconds + 10;
  if (t.nbf === "skew_out") payload.nbf = nowSeconds + 60;
  if (t.nbf === "future") payload.nbf = nowSeconds + 300;
  if (t.iat === "now") payload.iat = nowSeconds;
  if (t.iat === "skew_in") payload.iat = nowSeconds + 10;
  if (t.iat === "skew_out") payload.iat = nowSeconds + 60;
  const resume = t.kind === "resume";
  if (resume) Object.assign(payload, { typ: "tether-resume", cid: "fuzz-conversation" });
  const held = t.kid === "retiring" ? keys.retiring[0] : keys.current;
  if (held === undefined) throw new Error("the fuzz target's key set has no retiring key");
  const kid = {
    absent: undefined,
    current: held.kid,
    retiring: held.kid,
    unknown: "k-unknown",
    malformed: "../\u0000kid",
  }[t.kid ?? "absent"];
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${b64({ alg: t.alg, typ: "JWT", ...(kid === undefined ? {} : { kid }) })}.${b64(payload)}`;
  const environmentKey = t.key === "environment" ? held.secret : "another-environment-key-0123456789";
  // A resume token is signed with the key derived for resume tokens (shared/token-keys.ts).
  const key = resume ? Buffer.from(keyBytes({ kid: undefined, secret: environmentKey }, "resume")) : environmentKey;
  const signature =
    t.alg === "none"
      ? ""
      : crypto
          .createHmac(t.alg === "HS256" ? "sha256" : "sha512", key)
          .update(input)
          .digest("base64url");
  return `${input}.${signature}`;
}

// ---------------------------------------------------------------- concrete cases

/**
 * Makes a case's client-chosen conversation id unique to this run, keeping its shape: the
 * same length and the same first and last two characters (so `__…__` stays reserved).
 */
export function concretize(c: SocketCase): SocketCase {
  const id = c.query.conversation_id;
  if (!c.query.uniquify || id === undefined || !/^[A-Za-z0-9_-]{8,}$/.test(id)) return c;
  const middle = crypto
    .randomBytes(id.length)
    .toString("base64url")
    .replace(/_/g, "x")
    .slice(0, id.length - 4);
  return { ...c, query: { ...c.query, conversation_id: `${id.slice(0, 2)}${middle}${id.slice(-2)}` } };
}

// ---------------------------------------------------------------- one socket

interface Observed {
  readonly messages: Array<Record<string, unknown>>;
  close?: { code: number; reason: string };
}

function describe(c: SocketCase, observed: Observed): string {
  const shown = observed.messages.map((m) => (m.type === "ack" ? `ack ${m.position}` : JSON.stringify(m))).join(", ");
  return `case ${JSON.stringify(c).slice(0, 1500)}\nserver: ${shown.slice(0, 1500)}; closed ${JSON.stringify(observed.close)}`;
}

async function waitUntil(what: string, condition: () => boolean, timeoutMs = PIPELINE_WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function send(ws: WebSocket, action: Action): void {
  const data = "audio" in action ? frameBytes(action.audio) : action.text;
  if (ws.readyState === WebSocket.OPEN) ws.send(data, () => undefined);
}

export interface SocketResult {
  readonly expectation: Expectation;
  readonly conversationId: string | undefined;
  readonly token: string | undefined;
  readonly finalized: boolean;
  readonly ackedUnits: number;
}

/** Plays one socket and checks everything the socket itself shows; returns what the API must show. */
export async function playSocket(target: FuzzTarget, raw: SocketCase): Promise<SocketResult> {
  const c = concretize(raw);
  const expected = expectation(c);
  const token = buildToken(c.token, target.tokenKeys);
  const url = new URL(target.ingressUrl);
  url.search = queryParams(c, token).toString();
  const headers: Record<string, string> = {};
  if (c.token.delivery === "header" && token !== undefined) headers.authorization = `Bearer ${token}`;
  const protocols = c.token.delivery === "protocol" && token !== undefined ? listenSubprotocols(token) : [];
  const ws = new WebSocket(url, protocols, { headers });
  const observed: Observed = { messages: [] };
  const fail = (what: string): never => {
    throw new Error(`${what}\n${describe(c, observed)}`);
  };
  ws.on("message", (data, isBinary) => {
    if (!isBinary) observed.messages.push(JSON.parse(data.toString()) as Record<string, unknown>);
  });
  ws.on("error", () => undefined);
  ws.on("unexpected-response", (_req, res) => {
    observed.close = { code: -(res.statusCode ?? 0), reason: "upgrade refused" };
    ws.terminate();
  });
  ws.on("close", (code, reason) => {
    observed.close ??= { code, reason: reason.toString() };
  });
  const closed = () => observed.close !== undefined;
  const ready = () => observed.messages.find((m) => m.type === "ready");

  await waitUntil("ready or a close", () => ready() !== undefined || closed()).catch(() =>
    fail("no ready and no close"),
  );
  const outcome = expected.outcome;
  if (outcome.kind === "refused" && outcome.at === "handshake") {
    await waitUntil("the close", closed).catch(() => fail("expected a refusal"));
    checkClose(observed, outcome.closeCode, outcome.code, fail);
    if (ready() !== undefined) fail("a refused handshake sent ready");
    return { expectation: expected, conversationId: undefined, token, finalized: false, ackedUnits: 0 };
  }
  const hello = ready() ?? fail(`expected ready, the socket closed`);
  const conversationId = String(hello.conversation_id);
  if (c.query.conversation_id !== undefined && conversationId !== c.query.conversation_id)
    fail(`ready names conversation ${conversationId}, not the client's ${c.query.conversation_id}`);
  if (hello.position !== 0) fail("a new conversation starts at position 0");
  const chunkSize = Number(hello.chunk_size);

  for (const action of c.actions) send(ws, action);
  const acked = () =>
    observed.messages.filter((m) => m.type === "ack").reduce((max, m) => Math.max(max, Number(m.position)), 0);
  let finalized = false;
  if (outcome.kind === "refused") {
    await waitUntil("the close", closed).catch(() => fail(`expected close ${outcome.closeCode}`));
    checkClose(observed, outcome.closeCode, outcome.code, fail);
  } else if (expected.finalizes) {
    if (!c.actions.some((a) => "text" in a && isFinalize(a.text))) send(ws, { text: '{"type":"finalize"}' });
    await waitUntil("finalized and the close", closed).catch(() => fail("expected finalized, then 1000"));
    const done = observed.messages.find((m) => m.type === "finalized");
    if (done === undefined) fail("closed without finalized");
    if (done?.position !== expected.units)
      fail(`finalized at ${done?.position}, but ${expected.units} units were sent`);
    if (observed.close?.code !== 1000) fail("finalized must be followed by close 1000");
    finalized = true;
  } else {
    const full = Math.floor(expected.units / chunkSize) * chunkSize;
    await waitUntil(`an ack of ${full}`, () => acked() >= full || closed()).catch(() => fail(`no ack reached ${full}`));
    if (closed()) fail("the server closed an accepted socket");
    if (c.end === "close") {
      ws.close(1000);
      await waitUntil("the close", closed).catch(() => fail("the close handshake did not finish"));
    } else {
      ws.terminate();
    }
  }
  if (observed.close?.code === 1011) fail("the server answered 1011 to client input");
  const acks = observed.messages.filter((m) => m.type === "ack").map((m) => Number(m.position));
  if (acks.some((a, i) => i > 0 && a < (acks[i - 1] ?? 0))) fail("acks went backwards");
  if (acks.some((a) => a > expected.units)) fail("an ack covers audio that was never sent");
  return { expectation: expected, conversationId, token, finalized, ackedUnits: finalized ? expected.units : acked() };
}

function isFinalize(text: string): boolean {
  try {
    return (JSON.parse(text) as { type?: unknown })?.type === "finalize";
  } catch {
    return false;
  }
}

function checkClose(observed: Observed, closeCode: number, code: string, fail: (what: string) => never): void {
  if (observed.close?.code !== closeCode) fail(`expected close ${closeCode} (${code})`);
  const error = observed.messages.find((m) => m.type === "error");
  if (error?.code !== code || typeof error?.message !== "string") fail(`expected an error message with code ${code}`);
}

// ---------------------------------------------------------------- the API

export interface ApiAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export function apiRequest(
  base: string,
  options: { method?: string; path: string; headers?: Record<string, string> },
): Promise<ApiAnswer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? "GET",
        path: options.path,
        headers: options.headers ?? {},
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (part: Buffer) => parts.push(part));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function apiJson(target: FuzzTarget, token: string, path: string): Promise<{ status: number; body: unknown }> {
  const answer = await apiRequest(target.apiUrl, { path, headers: { authorization: `Bearer ${token}` } });
  return { status: answer.status, body: answer.status === 200 ? JSON.parse(answer.body.toString()) : undefined };
}

/** The fields of a listed segment the socket's messages decide (the session is the API's own record). */
type SegmentFields = Omit<SegmentView, "session_id">;

/** JSON's view of a value (what the API can give back): -0 is 0, and so on. */
const viaJson = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/**
 * Which versions of each segment the API may show: a durable message's version, or one
 * sent after the last durable one (it may have been stored too). Assignments likewise.
 */
export function visibleSegments(result: SocketResult): Map<string, SegmentFields[]> {
  const { texts } = result.expectation;
  const durable = (unitsBefore: number) => result.finalized || result.ackedUnits > unitsBefore;
  const versions = new Map<string, { sure: boolean; fields: Omit<SegmentFields, "person_id">; own: string | null }[]>();
  const assignments = new Map<string, { sure: boolean; person: string }[]>();
  for (const text of texts) {
    const sure = durable(text.unitsBefore);
    const message = text.message;
    if (message.type === "segments") {
      for (const s of message.segments) {
        const list = versions.get(s.id) ?? [];
        if (sure) list.splice(0);
        list.push({
          sure,
          fields: viaJson({
            id: s.id,
            start: s.start,
            end: s.end,
            text: s.text ?? "",
            speaker: s.speaker ?? null,
            is_user: s.is_user ?? false,
          }),
          own: s.person_id ?? null,
        });
        versions.set(s.id, list);
      }
    } else if (message.type === "speaker_assigned") {
      for (const id of message.segment_ids) {
        const list = assignments.get(id) ?? [];
        if (sure) list.splice(0);
        list.push({ sure, person: message.person_id });
        assignments.set(id, list);
      }
    }
  }
  const out = new Map<string, SegmentFields[]>();
  for (const [id, list] of versions) {
    if (!list.some((v) => v.sure)) continue;
    const assigned = assignments.get(id) ?? [];
    const persons = assigned.some((a) => a.sure)
      ? assigned.map((a) => a.person)
      : [...assigned.map((a) => a.person), null];
    out.set(
      id,
      list.flatMap((v) => persons.map((p) => ({ ...v.fields, person_id: p ?? v.own }))),
    );
  }
  return out;
}

function pcmExpected(result: SocketResult): { bytes: Buffer | undefined; pcmBytes: number } {
  const { codec, sampleRate, audio } = result.expectation;
  if (codec === "pcm16")
    return { bytes: Buffer.concat(audio).subarray(0, result.ackedUnits), pcmBytes: result.ackedUnits };
  let samples = 0;
  for (const packet of audio.slice(0, result.ackedUnits)) {
    const check = checkOpusPacket(packet);
    if (check.ok) samples += (check.info.durationUs * sampleRate) / 1_000_000;
  }
  return { bytes: undefined, pcmBytes: Math.round(samples) * 2 };
}

/** Polls the API until everything the socket had acknowledged is visible; throws if it never is, or differs. */
export async function checkVisible(target: FuzzTarget, raw: SocketCase, result: SocketResult): Promise<void> {
  const { conversationId, token } = result;
  if (conversationId === undefined || token === undefined) return;
  const fail = (what: string): never => {
    throw new Error(`${what}\nconversation ${conversationId}, case ${JSON.stringify(raw).slice(0, 1500)}`);
  };
  const base = `/v1/conversations/${encodeURIComponent(conversationId)}`;
  const deadline = Date.now() + PIPELINE_WAIT_MS;
  const pcm = pcmExpected(result);
  const segments = visibleSegments(result);
  let last = "";
  for (;;) {
    const problem = await (async (): Promise<string | undefined> => {
      const conversation = await apiJson(target, token, base);
      if (conversation.status !== 200) return `GET conversation answered ${conversation.status}`;
      const view = conversation.body as { status: string; position: number };
      if (result.finalized && view.status !== "finalized") return `status is ${view.status}, not finalized`;
      if (result.finalized && view.position !== result.expectation.units)
        return `position ${view.position}, but ${result.expectation.units} units were sent`;
      const wav = await apiRequest(target.apiUrl, {
        path: `${base}/audio.wav`,
        headers: { authorization: `Bearer ${token}` },
      });
      if (wav.status !== 200) return `audio.wav answered ${wav.status}`;
      const body = wav.body.subarray(WAV_HEADER_BYTES);
      if (result.finalized ? body.length !== pcm.pcmBytes : body.length < pcm.pcmBytes)
        return `audio.wav holds ${body.length} PCM bytes, ${pcm.pcmBytes} were acknowledged`;
      if (pcm.bytes !== undefined && !body.subarray(0, pcm.bytes.length).equals(pcm.bytes))
        return "audio.wav differs from the audio that was acknowledged";
      const listed = await apiJson(target, token, `${base}/segments`);
      if (listed.status !== 200) return `GET segments answered ${listed.status}`;
      const shown = new Map(
        ((listed.body as { segments: SegmentView[] }).segments ?? []).map(
          ({ session_id: _session, ...fields }): [string, SegmentFields] => [fields.id, fields],
        ),
      );
      for (const [id, allowed] of segments) {
        const got = shown.get(id);
        if (got === undefined) return `segment ${JSON.stringify(id)} is not visible`;
        if (!allowed.some((a) => JSON.stringify(a) === JSON.stringify(got)))
          return `segment ${JSON.stringify(id)} is ${JSON.stringify(got).slice(0, 300)}, expected one of ${JSON.stringify(allowed).slice(0, 600)}`;
      }
      const sentIds = new Set(
        result.expectation.texts.flatMap((t) =>
          t.message.type === "segments" ? t.message.segments.map((s) => s.id) : [],
        ),
      );
      const stranger = [...shown.keys()].find((id) => !sentIds.has(id));
      if (stranger !== undefined) return `segment ${JSON.stringify(stranger)} was never sent`;
      return undefined;
    })();
    if (problem === undefined) return;
    last = problem;
    if (Date.now() > deadline) fail(`acknowledged data is not visible through the API: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
