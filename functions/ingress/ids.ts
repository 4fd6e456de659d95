/** Identifiers the ingress mints: conversation ids (when the client chose none) and session ids. */
import crypto from "node:crypto";

/** 22 url-safe characters after `c`: matches the protocol's conversation id rule. */
export function newConversationId(): string {
  return `c${crypto.randomBytes(16).toString("base64url")}`;
}

/** One socket's id; messages it published carry it as `session_id`. */
export function newSessionId(): string {
  return `s${crypto.randomBytes(12).toString("base64url")}`;
}
