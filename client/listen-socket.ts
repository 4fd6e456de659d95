/**
 * Opening one socket of `/v1/listen`: a fresh access token from the app, presented the way
 * the session was configured (header, subprotocol or query), with the conversation's resume
 * token, on the pinned ingress URL. A failure is the session's terminal error.
 */
import { listenQueryString, listenSubprotocols } from "../shared/protocol";
import { TetherError } from "./errors";
import type { SessionConfig } from "./session-events";
import type { SocketLike } from "./socket";

export type ListenTarget = Pick<
  SessionConfig,
  "url" | "token" | "authVia" | "codec" | "sampleRate" | "conversationId" | "createSocket"
>;

/** The app's access token, or the error that stops the session. */
export async function accessToken(target: ListenTarget): Promise<string | TetherError> {
  try {
    return await target.token();
  } catch (error) {
    return new TetherError("unauthorized", `could not obtain an access token: ${(error as Error).message}`);
  }
}

/** A new socket to the pinned URL, or the error that stops the session. */
export function listenSocket(
  target: ListenTarget,
  token: string,
  resumeToken: string | undefined,
): SocketLike | TetherError {
  const query = listenQueryString({
    codec: target.codec,
    sampleRate: target.sampleRate,
    conversationId: target.conversationId,
    resumeToken,
    accessToken: target.authVia === "query" ? token : undefined,
  });
  const headers: Record<string, string> = target.authVia === "header" ? { authorization: `Bearer ${token}` } : {};
  const protocols = target.authVia === "protocol" ? listenSubprotocols(token) : undefined;
  const url = `${target.url}${target.url.includes("?") ? "&" : "?"}${query}`;
  try {
    return target.createSocket(url, headers, protocols);
  } catch (error) {
    return new TetherError("protocol_violation", `cannot open a socket to ${target.url}: ${(error as Error).message}`);
  }
}
