/**
 * Tokens: client bearer tokens (JWT, `sub` = user id) and resume tokens (signed by the
 * environment that owns the conversation, naming that environment).
 *
 * Client tokens go through the `TokenVerifier` interface: locally an HS256 key per
 * environment; in production a verifier for Firebase or Google-signed ID tokens can be
 * plugged in without touching the ingress or the API.
 *
 * A client token must verify with HS256 (`alg: none` and every other algorithm are
 * refused), carry `sub` and `exp` (PROTOCOL.md section 5: a token that never expires is
 * one a thief keeps forever; production verifiers always set it), not be expired, and not
 * be used before its `nbf`. Whether the `sub` can be stored is the edge's question, not the
 * verifier's: the ingress and the API check it with `userIdSchema` (shared/identifiers.ts)
 * whichever verifier is plugged in.
 */
import { decodeJwt, errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { z } from "zod";
import type { EnvironmentName } from "./environment";
import { environmentNameSchema } from "./environment";
import { conversationIdSchema, userIdSchema } from "./identifiers";

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

const encoder = new TextEncoder();
const key = (secret: string) => encoder.encode(secret);

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

/** Claims every client token must carry (checked by `jwtVerify`, which also checks `exp` and `nbf`). */
const REQUIRED_CLAIMS = ["sub", "exp"];

/** Verifies HS256 JWTs signed with `secret` (the local stack's tokens). */
export function hs256Verifier(secret: string): TokenVerifier {
  return {
    async verify(token) {
      if (!token) throw new AuthError("missing", "no bearer token");
      try {
        const { payload } = await jwtVerify(token, key(secret), {
          algorithms: ["HS256"],
          requiredClaims: REQUIRED_CLAIMS,
        });
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

/** Mints a local access token (tools, tests, the CLI). */
export async function signAccessToken(secret: string, userId: string, ttlSeconds = 3600): Promise<string> {
  return await new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(key(secret));
}

/** Reads a bearer token from `Authorization: Bearer x` or an `access_token` query parameter. */
export function bearerToken(
  authorization: string | undefined,
  accessToken: string | null | undefined,
): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return match?.[1] ?? (accessToken || undefined);
}

// ---------------------------------------------------------------- resume tokens

const RESUME_TYPE = "tether-resume";
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

export async function signResumeToken(secret: string, claims: ResumeClaims): Promise<string> {
  return await new SignJWT({ typ: RESUME_TYPE, env: claims.environment, cid: claims.conversationId })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + RESUME_TTL_SECONDS)
    .sign(key(secret));
}

export type ResumeTokenCheck =
  | { ok: true; claims: ResumeClaims }
  /** Names another environment: never accepted here; the client is told where it belongs. */
  | { ok: false; reason: "wrong_environment"; expectedEnvironment: string }
  | { ok: false; reason: "unauthorized"; message: string };

/**
 * Checks a resume token against this environment. A token that names another
 * environment is `wrong_environment` whatever its signature (it is only ever refused, so
 * its unverified claim is safe to report); a token naming this environment must verify
 * with this environment's key, or it is `unauthorized`.
 */
export async function checkResumeToken(
  secret: string,
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
  try {
    const { payload } = await jwtVerify(token, key(secret), { algorithms: ["HS256"], requiredClaims: ["exp"] });
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
