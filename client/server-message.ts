/**
 * A frame from the server, read as the protocol's message (the server sends text only). A
 * frame that is not one is a protocol violation: the session stops on it.
 */
import { type ServerMessage, serverMessageSchema } from "../shared/protocol";

export type ServerFrame =
  | { readonly ok: true; readonly message: ServerMessage }
  | { readonly ok: false; readonly violation: string };

/** The message, or the violation the frame is; undefined for a binary frame. */
export function readServerMessage(data: unknown): ServerFrame | undefined {
  if (typeof data !== "string") return undefined;
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { ok: false, violation: "the server sent a text frame that is not JSON" };
  }
  const parsed = serverMessageSchema.safeParse(json);
  if (!parsed.success)
    return { ok: false, violation: `the server sent a malformed message: ${parsed.error.issues[0]?.message}` };
  return { ok: true, message: parsed.data };
}
