/**
 * The request a client opens a socket with (PROTOCOL.md section 2): the path, the query
 * string, and the protocol version both ends speak (the one `ready` names). It needs no
 * schema library, so the Node SDK, the CLI and tests (through shared/protocol.ts) and the
 * browser SDK (through client/browser/protocol.ts) build the same query from this one
 * function; the ingress parses it with shared/protocol.ts's `parseListenQuery`.
 */
import type { Codec, SampleRate } from "./audio-format";

export const PROTOCOL_VERSION = 1;
export const LISTEN_PATH = "/v1/listen";

/** The subprotocol the ingress selects; a browser offers it with its bearer (PROTOCOL.md section 2). */
export const LISTEN_SUBPROTOCOL = "tether.v1";
/** `tether.bearer.<jwt>`: the access token of a client that cannot set headers, outside the URL. */
export const BEARER_SUBPROTOCOL_PREFIX = "tether.bearer.";

/** What a browser offers in `Sec-WebSocket-Protocol` to authenticate without a URL parameter. */
export function listenSubprotocols(accessToken: string): string[] {
  return [LISTEN_SUBPROTOCOL, `${BEARER_SUBPROTOCOL_PREFIX}${accessToken}`];
}

/** Builds the query string a client sends (the SDK, the CLI, tests). */
export function listenQueryString(query: {
  codec: Codec;
  sampleRate: SampleRate;
  conversationId?: string | undefined;
  resumeToken?: string | undefined;
  accessToken?: string | undefined;
}): string {
  const params = new URLSearchParams({ codec: query.codec, sample_rate: String(query.sampleRate), channels: "1" });
  if (query.conversationId !== undefined) params.set("conversation_id", query.conversationId);
  if (query.resumeToken !== undefined) params.set("resume_token", query.resumeToken);
  if (query.accessToken !== undefined) params.set("access_token", query.accessToken);
  return params.toString();
}
