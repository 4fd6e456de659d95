/**
 * An environment's token-signing keys: the current one and those being retired, told apart
 * by the JWT header's `kid` (PROTOCOL.md section 2, "Tokens"), so that rotating the key
 * never cuts a live conversation.
 *
 * - A token with a `kid` verifies only with the key of that id; a token without one (the
 *   local stack's tokens, PROTOCOL.md section 5) with the current key.
 * - Resume tokens are signed with the current key, under its `kid`.
 * - Access and resume tokens never share a key: a resume token is signed with a key
 *   derived from the environment key (HMAC-SHA256 of a fixed label), so one kind can never
 *   verify as the other even if a claim check were forgotten.
 */
import { createHmac } from "node:crypto";
import { z } from "zod";

export interface TokenKey {
  /** The JWT header's `kid`; absent only for a current key that is not being rotated (local stacks). */
  readonly kid: string | undefined;
  readonly secret: string;
}

export interface TokenKeys {
  /** Verifies access tokens and signs and verifies resume tokens. */
  readonly current: TokenKey;
  /** Still verified, never used to sign: tokens minted before the rotation. */
  readonly retiring: readonly TokenKey[];
}

/** A key id: short, printable, and safe to name in an error message. */
export const keyIdSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { message: "must be 1-64 of A-Z a-z 0-9 . _ -" });

/** A bare secret is a set of one key without a `kid` (the local stack's, tests'). */
export function tokenKeys(keys: string | TokenKeys): TokenKeys {
  return typeof keys === "string" ? { current: { kid: undefined, secret: keys }, retiring: [] } : keys;
}

export type TokenKind = "access" | "resume";

const encoder = new TextEncoder();
const RESUME_KEY_LABEL = "tether resume token key v1";

/** The key bytes a token of `kind` is signed with under `key`. */
export function keyBytes(key: TokenKey, kind: TokenKind): Uint8Array {
  return kind === "access"
    ? encoder.encode(key.secret)
    : new Uint8Array(createHmac("sha256", key.secret).update(RESUME_KEY_LABEL).digest());
}

export type KeyLookup = { ok: true; key: TokenKey } | { ok: false; message: string };

/** The key a token's header names: its `kid`, or the current key when it has none. */
export function keyForKid(keys: TokenKeys, kid: unknown): KeyLookup {
  if (kid === undefined) return { ok: true, key: keys.current };
  const known = [keys.current, ...keys.retiring].find((key) => key.kid !== undefined && key.kid === kid);
  if (known !== undefined) return { ok: true, key: known };
  const shown = keyIdSchema.safeParse(kid).success ? JSON.stringify(kid) : "(malformed)";
  return { ok: false, message: `token key id ${shown} is not one of this environment's keys` };
}
