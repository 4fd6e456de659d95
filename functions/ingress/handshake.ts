/**
 * From an upgrade request to what the socket asks for: a validated query, a verified user,
 * and which conversation (new, client-chosen, or resumed with a token of this
 * environment). Everything here is input from the network and is checked before use.
 *
 * Order of the checks, and why:
 * 1. The query (4400 / 4415): nothing else can be read without it.
 * 2. A resume token that names another environment (4409) comes before authentication: a
 *    client sent to the wrong environment carries that environment's access token too,
 *    and must hear "wrong environment" (reconnect where you belong), not "unauthorized"
 *    (fetch a new token and retry here). Only the token's claim is reported back; the
 *    token is never accepted.
 * 3. The access token, from the `Authorization` header, the `Sec-WebSocket-Protocol` offer
 *    (`tether.bearer.<jwt>`) or the `access_token` query of old clients (4401: missing,
 *    forged, expired, not yet valid, a resume token, or without `sub` or `exp`), whether its `sub` can be stored as a user id (4400 naming `sub`: every store
 *    must hold it, see shared/identifiers.ts), then the resume token's kind and signature with
 *    one of this environment's keys (4401), then that it was issued to the same user (4403).
 */
import type { IncomingMessage } from "node:http";
import { chunkSizeUnits } from "../../shared/audio-format";
import { AuthError, bearerToken, checkResumeToken, type TokenKeys, type TokenVerifier } from "../../shared/auth";
import type { EnvironmentName } from "../../shared/environment";
import { parseIdentifier } from "../../shared/identifiers";
import { parseListenQuery } from "../../shared/protocol";
import type { OpenIntent } from "./conversation-store";
import { newConversationId } from "./ids";
import { ProtocolError } from "./protocol-error";

export interface HandshakeConfig {
  readonly environment: EnvironmentName;
  /** Sign (the current key) and verify (any of them, by `kid`) resume tokens. */
  readonly tokenKeys: TokenKeys;
  readonly verifier: TokenVerifier;
  readonly chunkSeconds: number;
}

/** What the handshake learned, even when it refuses: for the log line. */
export interface HandshakeContext {
  conversationId: string | undefined;
  userId: string | undefined;
}

/** Resolves the socket's intent, or throws `ProtocolError`; fills `context` as it learns. */
export async function authorizeUpgrade(
  request: Pick<IncomingMessage, "url" | "headers">,
  config: HandshakeConfig,
  context: HandshakeContext,
): Promise<OpenIntent> {
  const url = new URL(request.url ?? "/", "http://ingress.invalid");
  const parsed = parseListenQuery(url.searchParams);
  if (!parsed.ok) throw new ProtocolError(parsed.code, parsed.message);
  const query = parsed.query;
  context.conversationId = query.conversationId;

  const resume =
    query.resumeToken === undefined
      ? undefined
      : await checkResumeToken(config.tokenKeys, query.resumeToken, config.environment);
  if (resume !== undefined && !resume.ok && resume.reason === "wrong_environment") {
    throw new ProtocolError(
      "wrong_environment",
      `this resume token belongs to environment ${resume.expectedEnvironment}; reconnect to that environment's ingress, never here`,
      { environment: config.environment, expected_environment: resume.expectedEnvironment },
    );
  }

  let subject: string;
  try {
    const { authorization, "sec-websocket-protocol": protocols } = request.headers;
    subject = (await config.verifier.verify(bearerToken(authorization, query.accessToken, protocols))).userId;
  } catch (error) {
    if (error instanceof AuthError) throw new ProtocolError("unauthorized", `access token refused: ${error.message}`);
    throw error;
  }
  const user = parseIdentifier("user_id", "access token claim sub", subject);
  if (!user.ok) throw new ProtocolError("bad_request", user.message);
  const userId = user.value;
  context.userId = userId;

  const base = {
    userId,
    codec: query.codec,
    sampleRate: query.sampleRate,
    chunkSize: chunkSizeUnits(query.codec, query.sampleRate, config.chunkSeconds),
  };
  if (resume === undefined) {
    if (query.conversationId !== undefined) return { ...base, kind: "client_id", conversationId: query.conversationId };
    const conversationId = newConversationId();
    context.conversationId = conversationId;
    return { ...base, kind: "new", conversationId };
  }
  if (!resume.ok)
    throw new ProtocolError("unauthorized", resume.reason === "unauthorized" ? resume.message : "resume token refused");
  const { claims } = resume;
  context.conversationId = claims.conversationId;
  if (query.conversationId !== undefined && query.conversationId !== claims.conversationId) {
    throw new ProtocolError(
      "bad_request",
      `conversation_id ${query.conversationId} does not match the resume token's conversation ${claims.conversationId}`,
    );
  }
  if (claims.userId !== userId) {
    throw new ProtocolError("forbidden", `conversation ${claims.conversationId} belongs to another user`);
  }
  return { ...base, kind: "resume", conversationId: claims.conversationId };
}
