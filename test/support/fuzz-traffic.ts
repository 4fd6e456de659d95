/**
 * Client traffic for the fuzzer, valid and invalid by PROTOCOL.md, and what the contract
 * says the server must do with it. Pure: fast-check arbitraries that produce plain JSON
 * cases (so a shrunk failure can be pasted into a regular test as it is), and an oracle
 * that reads a case the way the contract does.
 *
 * A case is a socket: its query, its token (claims, algorithm, key, where it is sent),
 * the frames it sends after `ready` (audio and text, in order), and how it ends
 * (`finalize`, a clean close, or a dropped connection). The oracle names the close code
 * the contract gives the first thing that breaks it, or says the socket is accepted; for
 * an accepted socket it lists the audio units and the text messages, with how much audio
 * came before each (a text message is durable once an ack covers audio sent after it).
 */
import crypto from "node:crypto";
import fc from "fast-check";
import { type Codec, MAX_OPUS_PACKET_BYTES, MAX_PCM16_FRAME_BYTES, SAMPLE_RATES } from "../../shared/audio-format";
import { identifierProblem } from "../../shared/identifiers";
import { checkOpusPacket } from "../../shared/opus-packet";
import { clientMessageSchema, MAX_TEXT_FRAME_BYTES } from "../../shared/protocol";

// ---------------------------------------------------------------- the case

/**
 * A token. Clock values are relative to the ingress's clock: `skew_in` is within the 30 s
 * tolerance (`nbf`/`iat` 10 s ahead, `exp` 10 s ago: accepted), `skew_out` beyond it (60 s).
 */
export interface TokenCase {
  /** `protocol`: `Sec-WebSocket-Protocol` (`tether.bearer.<jwt>`), as browsers send it. */
  readonly delivery: "header" | "query" | "protocol" | "none";
  readonly alg: "HS256" | "HS512" | "none";
  readonly key: "environment" | "other";
  /** `resume`: a resume token's claims and key, presented as the access token. Default `access`. */
  readonly kind?: "access" | "resume";
  /**
   * The header's `kid`: none (the current key), the current key's, the retiring key's (the
   * token signed with that key), one the environment does not hold, or a malformed one.
   */
  readonly kid?: "absent" | "current" | "retiring" | "unknown" | "malformed";
  /** `null`: no `sub` claim. A number: a `sub` of the wrong type. */
  readonly sub: string | number | null;
  readonly exp: "future" | "past" | "absent" | "string" | "skew_in";
  readonly nbf: "absent" | "past" | "future" | "skew_in" | "skew_out";
  readonly iat?: "absent" | "now" | "skew_in" | "skew_out";
}

/** A `resume_token` value the runner replaces with the socket's own (valid) access token. */
export const ACCESS_TOKEN_AS_RESUME = "<the access token>";

export interface QueryCase {
  readonly codec?: string;
  readonly sample_rate?: string;
  readonly channels?: string;
  /** A conversation id; `uniquify` keeps its shape (length, first and last two characters). */
  readonly conversation_id?: string;
  readonly uniquify: boolean;
  readonly resume_token?: string;
  /** A parameter repeated (malformed) or unknown (ignored). */
  readonly extra?: readonly [string, string];
}

/** Binary frames: pcm16 of a size (seeded content), or exact bytes (Opus packets, oddities). */
export type AudioFrame = { readonly pcmBytes: number; readonly seed: number } | { readonly hex: string };

export type Action = { readonly audio: AudioFrame } | { readonly text: string };

export interface SocketCase {
  readonly query: QueryCase;
  readonly token: TokenCase;
  readonly actions: readonly Action[];
  readonly end: "finalize" | "close" | "drop";
}

export function frameBytes(frame: AudioFrame): Buffer {
  if ("hex" in frame) return Buffer.from(frame.hex, "hex");
  const out = Buffer.alloc(frame.pcmBytes);
  for (let offset = 0, block = 0; offset < out.length; block += 1) {
    const digest = crypto.createHash("sha256").update(`${frame.seed}:${block}`).digest();
    offset += digest.copy(out, offset);
  }
  return out;
}

// ---------------------------------------------------------------- the oracle

export type Outcome =
  | { readonly kind: "refused"; readonly closeCode: number; readonly code: string; readonly at: "handshake" | number }
  | { readonly kind: "accepted" };

export interface TextSent {
  readonly index: number;
  /** Units of accepted audio sent before this message. */
  readonly unitsBefore: number;
  readonly message: ReturnType<typeof clientMessageSchema.parse>;
}

export interface Expectation {
  readonly outcome: Outcome;
  readonly codec: Codec;
  readonly sampleRate: number;
  /** Accepted audio, in order, up to the refusal (or all of it). */
  readonly audio: readonly Buffer[];
  readonly units: number;
  /** Accepted text messages up to the refusal, `finalize` excluded. */
  readonly texts: readonly TextSent[];
  /** The client sent `finalize` and nothing before it was refused. */
  readonly finalizes: boolean;
}

const refused = (closeCode: number, code: string, at: "handshake" | number): Outcome => ({
  kind: "refused",
  closeCode,
  code,
  at,
});

/** The query parameters in the order the client sends them (a repeated one included). */
export function queryParams(c: SocketCase, token: string | undefined): URLSearchParams {
  const params = new URLSearchParams();
  for (const key of ["codec", "sample_rate", "channels", "conversation_id", "resume_token"] as const) {
    const value = c.query[key];
    if (value !== undefined) params.append(key, value);
  }
  if (c.query.extra !== undefined) params.append(c.query.extra[0], c.query.extra[1]);
  if (c.token.delivery === "query" && token !== undefined) params.append("access_token", token);
  if (params.get("resume_token") === ACCESS_TOKEN_AS_RESUME && token !== undefined) params.set("resume_token", token);
  return params;
}

/** The handshake's answer by the contract (PROTOCOL.md section 2), or undefined for `ready`. */
export function handshakeOutcome(c: SocketCase): Outcome | undefined {
  const params = queryParams(c, c.token.delivery === "query" ? "a-token" : undefined);
  const keys = [...params.keys()];
  if (new Set(keys).size !== keys.length) return refused(4400, "bad_request", "handshake");
  const conversationId = params.get("conversation_id");
  if (conversationId !== null && identifierProblem("conversation_id", conversationId) !== undefined)
    return refused(4400, "bad_request", "handshake");
  const resumeToken = params.get("resume_token");
  if (resumeToken !== null && (resumeToken.length === 0 || resumeToken.length > 4096))
    return refused(4400, "bad_request", "handshake");
  const codec = params.get("codec");
  const sampleRate = params.get("sample_rate");
  const channels = params.get("channels");
  if (codec !== null && codec !== "pcm16" && codec !== "opus") return refused(4415, "bad_audio", "handshake");
  if (sampleRate !== null && !SAMPLE_RATES.map(String).includes(sampleRate))
    return refused(4415, "bad_audio", "handshake");
  if (channels !== null && channels !== "1") return refused(4415, "bad_audio", "handshake");
  if (!tokenVerifies(c.token)) return refused(4401, "unauthorized", "handshake");
  if (typeof c.token.sub === "string" && identifierProblem("user_id", c.token.sub) !== undefined)
    return refused(4400, "bad_request", "handshake");
  // A resume token that is not one of this environment's (the fuzzer never holds a real one).
  if (resumeToken !== null) return refused(4401, "unauthorized", "handshake");
  return undefined;
}

/**
 * PROTOCOL.md sections 2 and 5: an access token (not a resume token), HS256 with one of
 * the environment's keys (the current one without a `kid`, or the key its `kid` names), `sub`
 * and `exp`, and `exp`, `nbf`, `iat` within 30 s of the clock.
 */
export function tokenVerifies(t: TokenCase): boolean {
  return (
    t.delivery !== "none" &&
    t.alg === "HS256" &&
    t.key === "environment" &&
    (t.kind ?? "access") === "access" &&
    ["absent", "current", "retiring"].includes(t.kid ?? "absent") &&
    typeof t.sub === "string" &&
    t.sub.length > 0 &&
    (t.exp === "future" || t.exp === "skew_in") &&
    t.nbf !== "future" &&
    t.nbf !== "skew_out" &&
    t.iat !== "skew_out"
  );
}

type ActionReading =
  | { readonly kind: "refused"; readonly closeCode: number; readonly code: string }
  | { readonly kind: "audio"; readonly bytes: Buffer }
  | { readonly kind: "text"; readonly message: TextSent["message"] };

/** What the contract makes of one frame on a socket of `codec`. Pure. */
export function readAction(action: Action, codec: Codec): ActionReading {
  if ("audio" in action) {
    const bytes = frameBytes(action.audio);
    const limit = codec === "pcm16" ? MAX_PCM16_FRAME_BYTES : MAX_OPUS_PACKET_BYTES;
    if (bytes.length > limit) return { kind: "refused", closeCode: 4413, code: "frame_too_large" };
    if (codec === "pcm16" ? bytes.length % 2 !== 0 : !checkOpusPacket(bytes).ok)
      return { kind: "refused", closeCode: 4415, code: "bad_audio" };
    return { kind: "audio", bytes };
  }
  if (Buffer.byteLength(action.text) > MAX_TEXT_FRAME_BYTES)
    return { kind: "refused", closeCode: 4413, code: "frame_too_large" };
  let json: unknown;
  try {
    json = JSON.parse(action.text);
  } catch {
    return { kind: "refused", closeCode: 4400, code: "bad_request" };
  }
  const parsed = clientMessageSchema.safeParse(json);
  if (!parsed.success) return { kind: "refused", closeCode: 4400, code: "bad_request" };
  return { kind: "text", message: parsed.data };
}

export function expectation(c: SocketCase): Expectation {
  const params = queryParams(c, undefined);
  const codec: Codec = params.get("codec") === "opus" ? "opus" : "pcm16";
  const sampleRate = Number(params.get("sample_rate") ?? 16000);
  const base = { codec, sampleRate };
  const atHandshake = handshakeOutcome(c);
  if (atHandshake !== undefined)
    return { ...base, outcome: atHandshake, audio: [], units: 0, texts: [], finalizes: false };
  const audio: Buffer[] = [];
  const texts: TextSent[] = [];
  let units = 0;
  for (const [index, action] of c.actions.entries()) {
    const reading = readAction(action, codec);
    if (reading.kind === "refused") {
      const outcome = refused(reading.closeCode, reading.code, index);
      return { ...base, outcome, audio, units, texts, finalizes: false };
    }
    if (reading.kind === "audio") {
      audio.push(reading.bytes);
      units += codec === "pcm16" ? reading.bytes.length : 1;
      continue;
    }
    if (reading.message.type === "finalize")
      return { ...base, outcome: { kind: "accepted" }, audio, units, texts, finalizes: true };
    texts.push({ index, unitsBefore: units, message: reading.message });
  }
  return { ...base, outcome: { kind: "accepted" }, audio, units, texts, finalizes: c.end === "finalize" };
}

// ---------------------------------------------------------------- arbitraries

const URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const urlSafeChar = fc.constantFrom(...URL_SAFE.split(""));
const awkwardChar = fc.constantFrom(
  ".",
  ":",
  "/",
  " ",
  "%",
  "é",
  "😀",
  "\u0000",
  "\n",
  "\ud800",
  "#",
  "?",
  "&",
  "=",
  "+",
);

/** Ids at every boundary of the contract's alphabets and lengths, reserved ones included. */
export function idArbitrary(minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: urlSafeChar, minLength, maxLength }) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(minLength, maxLength, maxLength + 1, Math.max(0, minLength - 1))
        .chain((n) => fc.string({ unit: urlSafeChar, minLength: n, maxLength: n })),
    },
    {
      weight: 2,
      arbitrary: fc
        .string({ unit: urlSafeChar, minLength: Math.max(0, minLength - 4), maxLength: Math.max(0, maxLength - 4) })
        .map((s) => `__${s}__`),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.string({ unit: urlSafeChar, minLength: 1, maxLength: 10 }),
          awkwardChar,
          fc.string({ unit: urlSafeChar, maxLength: 10 }),
        )
        .map(([a, b, c]) => `${a}${b}${c}`),
    },
    { weight: 1, arbitrary: fc.constantFrom(".", "..", "", "____", "__.__", ".well-known") },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }) },
  );
}

const subArbitrary: fc.Arbitrary<string | number | null> = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: urlSafeChar, minLength: 6, maxLength: 12 }).map((s) => `user-${s}`) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 20 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("x".repeat(128), "x".repeat(129), "😀".repeat(128), "__u__", "a/b", "", "u\ud800"),
  },
  { weight: 1, arbitrary: fc.constantFrom(null, 42) },
);

export const tokenArbitrary: fc.Arbitrary<TokenCase> = fc.record({
  delivery: fc.constantFrom("header", "header", "header", "protocol", "query", "none"),
  alg: fc.constantFrom("HS256", "HS256", "HS256", "HS256", "HS512", "none"),
  key: fc.constantFrom("environment", "environment", "environment", "environment", "other"),
  kind: fc.constantFrom("access", "access", "access", "access", "access", "resume"),
  kid: fc.constantFrom("absent", "absent", "absent", "current", "retiring", "unknown", "malformed"),
  sub: subArbitrary,
  exp: fc.constantFrom("future", "future", "future", "future", "skew_in", "past", "absent", "string"),
  nbf: fc.constantFrom("absent", "absent", "absent", "past", "skew_in", "skew_out", "future"),
  iat: fc.constantFrom("absent", "now", "now", "skew_in", "skew_out"),
});

export const queryArbitrary: fc.Arbitrary<QueryCase> = fc.record(
  {
    codec: fc.constantFrom("pcm16", "pcm16", "opus", "opus", "PCM16", "mp3", ""),
    sample_rate: fc.constantFrom(
      "8000",
      "16000",
      "24000",
      "48000",
      "8000",
      "16000",
      "44100",
      "08000",
      "1e4",
      "-8000",
      "",
    ),
    channels: fc.constantFrom("1", "1", "1", "2", "01", ""),
    conversation_id: idArbitrary(8, 64),
    uniquify: fc.boolean(),
    resume_token: fc.constantFrom("garbage", "a.b.c", "", ACCESS_TOKEN_AS_RESUME),
    extra: fc.oneof(
      fc.tuple(fc.constantFrom("codec", "conversation_id", "unknown", "type"), fc.string({ maxLength: 8 })),
    ),
  },
  { requiredKeys: ["uniquify"] },
);

/** Numbers as JSON text, at JSON's and doubles' limits (`1e400` parses to Infinity). */
const jsonNumber = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: 0, max: 3600, noNaN: true, noDefaultInfinity: true }).map(String) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "0",
      "-0",
      "0.0",
      "1e308",
      "1.7976931348623157e308",
      "5e-324",
      "9007199254740993",
      "1e400",
      "-1",
      "-1e-9",
      "1E+2",
      "123456789012345678901234567890",
    ),
  },
);

/** A segment's `start` and `end` as JSON text: mostly in order, sometimes anything. */
const times: fc.Arbitrary<[string, string]> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .tuple(fc.double({ min: 0, max: 3600, noNaN: true }), fc.double({ min: 0, max: 60, noNaN: true }))
      .map(([start, length]): [string, string] => [String(start), String(start + length)]),
  },
  { weight: 1, arbitrary: fc.tuple(jsonNumber, jsonNumber) },
);

const segmentIdArbitrary = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: urlSafeChar, minLength: 1, maxLength: 6 }).map((s) => `s${s}`) },
  { weight: 1, arbitrary: idArbitrary(1, 128) },
);
const personIdArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: urlSafeChar, minLength: 1, maxLength: 6 }).map((s) => `p${s}`) },
  { weight: 1, arbitrary: idArbitrary(1, 128) },
);

const textArbitrary = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom("a\ud800b", "\udc00", "😀\ud83d", "\u0000", "\u202e") },
  { weight: 1, arbitrary: fc.constantFrom(100_000, 100_001, 70_000).map((n) => "t".repeat(n)) },
);

/** One segment as JSON text: fields present or absent, right or wrong types, numbers at the limits. */
const segmentJson = fc
  .tuple(
    times,
    fc.record(
      {
        id: segmentIdArbitrary,
        start: fc.constant("0"),
        end: fc.constant("0"),
        text: textArbitrary,
        speaker: fc.oneof(
          { weight: 6, arbitrary: fc.oneof(fc.constant(null), fc.string({ unit: "grapheme", maxLength: 12 })) },
          {
            weight: 1,
            arbitrary: fc.oneof(fc.string({ minLength: 64, maxLength: 66 }), fc.constantFrom(7, "\ud800")),
          },
        ),
        is_user: fc.oneof({ weight: 8, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constant("true") }),
        person_id: fc.oneof(fc.constant(null), personIdArbitrary),
        extra_field: fc.constant("ignored"),
      },
      { requiredKeys: ["id", "start", "end"] },
    ),
  )
  .map(([[start, end], s]) => {
    const parts = Object.entries({ ...s, start, end }).map(
      ([k, v]) => `${JSON.stringify(k)}:${k === "start" || k === "end" ? v : JSON.stringify(v)}`,
    );
    return `{${parts.join(",")}}`;
  });

/** Text frames: well-formed messages mostly, and each way to break one. */
export const textArbitrary_: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .array(segmentJson, { minLength: 1, maxLength: 4 })
      .map((segs) => `{"type":"segments","segments":[${segs.join(",")}]}`),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        type: fc.constant("speaker_assigned"),
        person_id: personIdArbitrary,
        segment_ids: fc.array(segmentIdArbitrary, { minLength: 0, maxLength: 3 }),
      })
      .map((m) => JSON.stringify(m)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"type":"segments","segments":[]}',
      '{"type":"hello"}',
      "{}",
      "[]",
      "null",
      "42",
      '"finalize"',
      "{not json",
      "",
      '{"type":"segments"}',
      `{"type":"segments","segments":[{"id":"s1","start":2,"end":1}]}`,
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 30 }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(MAX_TEXT_FRAME_BYTES - 40, MAX_TEXT_FRAME_BYTES + 1)
      .map((n) => `{"type":"segments","segments":[{"id":"big","start":0,"end":1,"text":"${"x".repeat(n)}"}]}`),
  },
);

const hex = (bytes: number[]) => Buffer.from(bytes).toString("hex");

/** Opus packets: valid framings of RFC 6716 section 3.2 and each way to break one. */
const opusPacket: fc.Arbitrary<AudioFrame> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.integer({ min: 0, max: 255 }).map((t) => t & 0xfc),
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 60 }),
      )
      .map(([toc, payload]) => ({ hex: hex([toc, ...payload]) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 30 }))
      .map(([config, half]) => ({ hex: hex([(config << 2) | 1, ...new Array<number>(half * 2).fill(7)]) })),
  },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.integer({ min: 0, max: 255 }), { minLength: 0, maxLength: 12 })
      .map((bytes) => ({ hex: hex(bytes) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(MAX_OPUS_PACKET_BYTES, MAX_OPUS_PACKET_BYTES + 1, 1276, 1277)
      .map((n) => ({ hex: Buffer.alloc(n, 0).fill(0x08, 0, 1).toString("hex") })),
  },
);

const pcmFrame: fc.Arbitrary<AudioFrame> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ pcmBytes: fc.integer({ min: 1, max: 1600 }).map((n) => n * 2), seed: fc.nat(1000) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      pcmBytes: fc.constantFrom(
        0,
        1,
        3,
        3199,
        MAX_PCM16_FRAME_BYTES,
        MAX_PCM16_FRAME_BYTES + 2,
        MAX_PCM16_FRAME_BYTES + 1,
        MAX_TEXT_FRAME_BYTES + 2,
      ),
      seed: fc.nat(1000),
    }),
  },
);

export const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.oneof(pcmFrame, opusPacket).map((audio) => ({ audio })) },
  { weight: 2, arbitrary: textArbitrary_.map((text) => ({ text })) },
);

/** Mostly sockets that get past the handshake (so the frames matter), some that do not. */
export const socketCaseArbitrary: fc.Arbitrary<SocketCase> = fc
  .tuple(
    fc.constantFrom("clean", "clean", "tame", "tame", "wild"),
    queryArbitrary,
    tokenArbitrary,
    fc.constantFrom("pcm16", "opus"),
    fc.constantFrom("8000", "16000", "48000"),
    fc.array(actionArbitrary, { maxLength: 8 }),
    fc.constantFrom("finalize", "finalize", "close", "drop"),
    fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      { weight: 3, arbitrary: fc.string({ unit: urlSafeChar, minLength: 8, maxLength: 64 }) },
      { weight: 1, arbitrary: idArbitrary(8, 64) },
    ),
  )
  .map(([kind, query, token, codec, rate, generated, end, tameId]): SocketCase => {
    if (kind === "wild")
      return { query, token, actions: fitAudio(generated, query.codec === "opus" ? "opus" : "pcm16"), end };
    // Clean: every frame valid for the codec (the audio and text a correct client sends).
    const fitted = fitAudio(generated, codec);
    const actions = kind === "clean" ? fitted.filter((a) => readAction(a, codec).kind !== "refused") : fitted;
    // A well-formed handshake: only the conversation id and the sub may still be unusual.
    const tame: QueryCase = {
      codec,
      sample_rate: rate,
      uniquify: true,
      ...(tameId !== undefined ? { conversation_id: tameId } : {}),
    };
    const goodToken: TokenCase = {
      delivery: "header",
      alg: "HS256",
      key: "environment",
      sub: token.sub,
      exp: "future",
      nbf: "absent",
    };
    return {
      query: tame,
      token: typeof token.sub === "string" ? goodToken : { ...goodToken, sub: "user-tame" },
      actions,
      end,
    };
  });

/** Audio frames of the other codec's shape become this codec's (pcm sizes for pcm16, packets for opus). */
function fitAudio(actions: readonly Action[], codec: Codec): Action[] {
  return actions.map((a) => {
    if (!("audio" in a)) return a;
    if (codec === "opus" && "pcmBytes" in a.audio)
      return { audio: { hex: hex([0xfc, ...new Array<number>(a.audio.pcmBytes % 40).fill(a.audio.seed % 256)]) } };
    if (codec === "pcm16" && "hex" in a.audio) return { audio: { pcmBytes: a.audio.hex.length / 2, seed: 1 } };
    return a;
  });
}
