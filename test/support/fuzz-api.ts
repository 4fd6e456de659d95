/**
 * HTTP API requests for the fuzzer: every route (and routes that do not exist), every
 * method, path parameters at every boundary and in every encoding, bearer tokens with any
 * claims in the header or the query, `Range` and `If-Range` of every shape. Pure
 * arbitraries plus the check of an answer: never a 5xx, and every error is the contract's
 * JSON `{"error":{"code","message"}}`.
 */
import fc from "fast-check";
import { idArbitrary, type TokenCase, tokenArbitrary } from "./fuzz-traffic";

export interface ApiCase {
  readonly method: string;
  readonly route: "conversation" | "audio" | "segments" | "person" | "list" | "health" | "other";
  /** The path parameter: an id of the fixture, or anything. */
  readonly id: { readonly fixture: "conversation" | "person" } | { readonly raw: string };
  /** Percent-encode the id (else it goes raw, and requests Node refuses to send are skipped). */
  readonly encode: boolean;
  readonly otherPath: string;
  readonly auth:
    | { readonly kind: "owner" | "stranger" | "absent" }
    | { readonly kind: "token"; readonly token: TokenCase }
    | { readonly kind: "raw"; readonly header: string };
  readonly authInQuery: boolean;
  readonly query: string;
  readonly range?: string;
  readonly ifRange?: string;
}

const rangeArbitrary = fc.oneof(
  fc.constantFrom(
    "bytes=0-",
    "bytes=0-0",
    "bytes=-1",
    "bytes=-0",
    "bytes=44-",
    "bytes=5-1",
    "bytes=0-1,2-3",
    "bytes=99999999999999999999-",
    "bytes=1e3-",
    "bytes= 0-1",
    "items=0-1",
    "bytes=",
    "",
  ),
  fc.tuple(fc.nat(200_000), fc.nat(200_000)).map(([a, b]) => `bytes=${a}-${b}`),
);

export const apiCaseArbitrary: fc.Arbitrary<ApiCase> = fc.record(
  {
    method: fc.constantFrom("GET", "GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"),
    route: fc.constantFrom("conversation", "audio", "segments", "person", "list", "health", "other"),
    id: fc.oneof(
      { weight: 2, arbitrary: fc.constantFrom({ fixture: "conversation" as const }, { fixture: "person" as const }) },
      { weight: 3, arbitrary: idArbitrary(1, 130).map((raw) => ({ raw })) },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom("%", "%E0%A4%A", "%2F", "%00", "%C0%AF", "..", "%2E%2E", "a%20b", "%F0%9F%98%80")
          .map((raw) => ({ raw })),
      },
    ),
    encode: fc.boolean(),
    otherPath: fc.oneof(
      fc.webPath(),
      fc.constantFrom("/v1", "/v1/", "/v1/conversations/", "//v1/people/x", "/v1/people", "/v1/conversations/a/b/c"),
    ),
    auth: fc.oneof(
      { weight: 4, arbitrary: fc.constant({ kind: "owner" as const }) },
      { weight: 1, arbitrary: fc.constantFrom({ kind: "stranger" as const }, { kind: "absent" as const }) },
      { weight: 2, arbitrary: tokenArbitrary.map((token) => ({ kind: "token" as const, token })) },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom(
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpw",
            "Bearer a b",
            "bearer x.y.z",
            "Bearer ....",
            "x".repeat(9000),
          )
          .map((header) => ({ kind: "raw" as const, header })),
      },
    ),
    authInQuery: fc.boolean(),
    query: fc.oneof(
      fc.constant(""),
      fc.constantFrom(
        "limit=1",
        "limit=0",
        "limit=-1",
        "limit=1e309",
        "limit=NaN",
        "limit=100000",
        "limit=1&limit=2",
        "cursor=garbage",
        "cursor=",
        "limit=2&cursor=%FF",
      ),
      fc
        .tuple(fc.constantFrom("limit", "cursor", "x"), fc.string({ unit: "grapheme", maxLength: 12 }))
        .map(([k, v]) => `${k}=${encodeURIComponent(v)}`),
    ),
    range: rangeArbitrary,
    ifRange: fc.constantFrom('"wav-1-2"', "garbage", 'W/"x"', "Mon, 01 Jan 2024 00:00:00 GMT"),
  },
  { requiredKeys: ["method", "route", "id", "encode", "otherPath", "auth", "authInQuery", "query"] },
);

/** The statuses PROTOCOL.md section 3 allows for errors, with 405 (method) and 416 (range). */
export const ERROR_STATUSES = new Set([400, 401, 403, 404, 405, 409, 416]);

/** Why an answer breaks the contract, or undefined. Pure. */
export function apiAnswerProblem(
  method: string,
  answer: { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer },
): string | undefined {
  if (answer.status >= 500) return `answered ${answer.status}`;
  if (answer.status < 400) return undefined;
  if (!ERROR_STATUSES.has(answer.status)) return `answered ${answer.status}, not one of the contract's error statuses`;
  if (!String(answer.headers["content-type"] ?? "").startsWith("application/json")) return "an error that is not JSON";
  if (method === "HEAD") return undefined;
  try {
    const body = JSON.parse(answer.body.toString()) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code !== "string" || typeof body.error?.message !== "string")
      return `an error body without error.code and error.message: ${answer.body.toString().slice(0, 200)}`;
  } catch {
    return `an error body that is not JSON: ${answer.body.toString().slice(0, 200)}`;
  }
  return undefined;
}
