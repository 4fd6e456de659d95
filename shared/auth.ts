/**
 * Tokens: client access tokens (JWT, `sub` = user id) and resume tokens (signed by the
 * environment that owns the conversation, naming that environment). PROTOCOL.md section 2,
 * "Tokens".
 *
 * Access tokens go through the `TokenVerifier` interface: an HS256 key set per environment
 * (shared/token-keys.ts); in production a verifier for Firebase or Google-signed ID tokens
 * can be plugged in without touching the ingress or the API.
 *
 * An access token must verify with HS256 (`alg: none` and every other algorithm are
 * refused) under the key its `kid` names (the current key without one), carry `sub` and
 * `exp` (a token that never expires is one a thief keeps forever), and hold `exp`, `nbf`
 * and `iat` within `CLOCK_TOLERANCE_SECONDS` of our clock (the app's token server's clock
 * may run a little fast or slow). Whether the `sub` can be stored is the edge's question,
 * not the verifier's: the ingress and the API check it with `userIdSchema`.
 *
 * The two kinds never stand in for each other: a resume token travels in a URL (and may be
 * logged by a proxy on the way), so it must never open the API or a new conversation; it is
 * signed with a key derived for resume tokens only and carries `typ: tether-resume`, and
 * each check refuses the other kind by name.
 */
import { decodeJwt, decodeProtectedHeader, type JWTPayload, errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { z } from "zod";
import type { EnvironmentName } from "./environment";
import { environmentNameSchema } from "./environment";
import { conversationIdSchema, userIdSchema } from "./identifiers";
import { BEARER_SUBPROTOCOL_PREFIX } from "./listen-request";
import { keyBytes, keyForKid, type TokenKeys, type TokenKind, tokenKeys } from "./token-keys";

export { type TokenKey, type TokenKeys, tokenKeys } from "./token-keys";

/** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. */
export const CLOCK_TOLERANCE_SECONDS = 30;

export type AuthFailure = "missing" | "expired" | "invalid";

export class AuthError extends Error {
  override name = "AuthError";
  constructor(
    readonly reason: AuthFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface Principal {
  readonly userId: string;
}

export interface TokenVerifier {
  /** Resolves the token's user, or throws `AuthError`. */
  verify(token: string | undefined): Promise<Principal>;
}

function toAuthError(error: unknown): AuthError {
  if (error instanceof AuthError) return error;
  if (error instanceof joseErrors.JWTExpired) return new AuthError("expired", "token has expired");
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const problem = error.reason === "missing" ? "is missing" : `is not valid (${error.reason})`;
    return new AuthError("invalid", `token claim \`${error.claim}\` ${problem}`);
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return new AuthError("invalid", "token is not signed with HS256");
  return new AuthError("invalid", "token signature or claims do not verify");
}

/** Claims every access token must carry (checked by `jwtVerify`, which also checks `exp` and `nbf`). */
const REQUIRED_CLAIMS = ["sub", "exp"];

const RESUME_TYPE = "tether-resume";

/** What a token says it is, before anything about it is trusted (only ever used to refuse it). */
function claimedKind(token: string): TokenKind | undefined {
  try {
    return decodeJwt(token).typ === RESUME_TYPE ? "resume" : "access";
  } catch {
    return undefined;
  }
}

/**
 * Verifies `token` as a token of `kind` under the key its `kid` names, with the clock
 * tolerance on `exp`, `nbf` and `iat` (jose checks `iat` only against a maximum age, so
 * a future `iat` is checked here).
 */
async function verifyKind(
  keys: TokenKeys,
  token: string,
  kind: TokenKind,
  requiredClaims: string[],
  nowSeconds?: number,
): Promise<JWTPayload> {
  const kid = decodeProtectedHeader(token).kid;
  const lookup = keyForKid(keys, kid);
  if (!lookup.ok) throw new AuthError("invalid", lookup.message);
  const now = nowSeconds ?? Math.floor(Date.now() / 1000);
  const { payload } = await jwtVerify(token, keyBytes(lookup.key, kind), {
    algorithms: ["HS256"],
    requiredClaims,
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    currentDate: new Date(now * 1000),
  });
  if (typeof payload.iat === "number" && payload.iat > now + CLOCK_TOLERANCE_SECONDS) {
    throw new AuthError("invalid", "token claim `iat` is in the future (beyond the clock tolerance)");
  }
  return payload;
}

export interface VerifierOptions {
  /** The clock, in seconds (tests); default: the system clock. */
  readonly now?: () => number;
}

/** Verifies HS256 access tokens signed with one of the environment's keys. */
export function hs256Verifier(keys: string | TokenKeys, options: VerifierOptions = {}): TokenVerifier {
  const set = tokenKeys(keys);
  return {
    async verify(token) {
      if (!token) throw new AuthError("missing", "no bearer token");
      if (claimedKind(token) === "resume") {
        throw new AuthError("invalid", "a resume token is not an access token: send the access token as the bearer");
      }
      try {
        const payload = await verifyKind(set, token, "access", REQUIRED_CLAIMS, options.now?.());
        if (typeof payload.sub !== "string" || payload.sub.length === 0) {
          throw new AuthError("invalid", "token claim `sub` is not a user id");
        }
        return { userId: payload.sub };
      } catch (error) {
        throw toAuthError(error);
      }
    },
  };
}

export interface AccessTokenOptions {
  /** Lifetime in seconds; default 3600. */
  readonly ttlSeconds?: number;
  /** Extra claims (tests: `nbf`, `iat`); `sub` and `exp` are always set. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/** Mints an access token with the current key, under its `kid` (tools, tests, the CLI). */
export async function signAccessToken(
  keys: string | TokenKeys,
  userId: string,
  ttlOrOptions: number | AccessTokenOptions = {},
): Promise<string> {
  const options = typeof ttlOrOptions === "number" ? { ttlSeconds: ttlOrOptions } : ttlOrOptions;
  const { current } = tokenKeys(keys);
  const iat = options.claims?.iat;
  return await new SignJWT({ ...options.claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT", ...(current.kid === undefined ? {} : { kid: current.kid }) })
    .setSubject(userId)
    .setIssuedAt(typeof iat === "number" ? iat : undefined)
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.ttlSeconds ?? 3600))
    .sign(keyBytes(current, "access"));
}

/** The bearer offered in `Sec-WebSocket-Protocol` (`tether.bearer.<jwt>`), if any. */
export function subprotocolBearer(header: string | readonly string[] | undefined): string | undefined {
  const offered = (typeof header === "string" ? header : (header ?? []).join(",")).split(",");
  for (const protocol of offered) {
    const trimmed = protocol.trim();
    if (trimmed.startsWith(BEARER_SUBPROTOCOL_PREFIX) && trimmed.length > BEARER_SUBPROTOCOL_PREFIX.length) {
      return trimmed.slice(BEARER_SUBPROTOCOL_PREFIX.length);
    }
  }
  return undefined;
}

/**
 * Reads a bearer token from `Authorization: Bearer x`, then the `Sec-WebSocket-Protocol`
 * offer (browsers), then the `access_token` query parameter (old clients).
 */
export function bearerToken(
  authorization: string | undefined,
  accessToken: string | null | undefined,
  protocols?: string | readonly string[] | undefined,
): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return match?.[1] ?? subprotocolBearer(protocols) ?? (accessToken || undefined);
}

// ---------------------------------------------------------------- resume tokens

const RESUME_TTL_SECONDS = 7 * 24 * 3600;

const resumeClaimsSchema = z.object({
  typ: z.literal(RESUME_TYPE),
  env: environmentNameSchema,
  cid: conversationIdSchema,
  sub: userIdSchema,
});

export interface ResumeClaims {
  readonly environment: EnvironmentName;
  readonly conversationId: string;
  readonly userId: string;
}

/** Signs a resume token with the current key's resume key, under its `kid`. */
export async function signResumeToken(keys: string | TokenKeys, claims: ResumeClaims): Promise<string> {
  const { current } = tokenKeys(keys);
  return await new SignJWT({ typ: RESUME_TYPE, env: claims.environment, cid: claims.conversationId })
    .setProtectedHeader({ alg: "HS256", typ: "JWT", ...(current.kid === undefined ? {} : { kid: current.kid }) })
    .setSubject(claims.userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + RESUME_TTL_SECONDS)
    .sign(keyBytes(current, "resume"));
}

export type ResumeTokenCheck =
  | { ok: true; claims: ResumeClaims }
  /** Names another environment: never accepted here; the client is told where it belongs. */
  | { ok: false; reason: "wrong_environment"; expectedEnvironment: string }
  | { ok: false; reason: "unauthorized"; message: string };

/**
 * Checks a resume token against this environment. A token that names another
 * environment is `wrong_environment` whatever its signature (it is only ever refused, so
 * its unverified claim is safe to report); a token naming this environment must be a
 * resume token and verify with one of this environment's keys, or it is `unauthorized`.
 */
export async function checkResumeToken(
  keys: string | TokenKeys,
  token: string,
  environment: EnvironmentName,
): Promise<ResumeTokenCheck> {
  let unverifiedEnv: unknown;
  try {
    unverifiedEnv = decodeJwt(token).env;
  } catch {
    return { ok: false, reason: "unauthorized", message: "resume token is not a JWT" };
  }
  if (typeof unverifiedEnv === "string" && unverifiedEnv !== environment) {
    return { ok: false, reason: "wrong_environment", expectedEnvironment: unverifiedEnv };
  }
  if (claimedKind(token) !== "resume") {
    return {
      ok: false,
      reason: "unauthorized",
      message: "an access token is not a resume token: send the resume_token of a ready",
    };
  }
  try {
    const payload = await verifyKind(tokenKeys(keys), token, "resume", ["exp"]);
    const parsed = resumeClaimsSchema.safeParse(payload);
    if (!parsed.success) return { ok: false, reason: "unauthorized", message: "resume token claims are invalid" };
    return {
      ok: true,
      claims: { environment: parsed.data.env, conversationId: parsed.data.cid, userId: parsed.data.sub },
    };
  } catch (error) {
    return { ok: false, reason: "unauthorized", message: `resume token rejected: ${toAuthError(error).message}` };
  }
}
