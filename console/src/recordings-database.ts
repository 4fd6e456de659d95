/**
 * Where the Record page keeps a user's unfinished recordings: one IndexedDB database per
 * user (the `sub` of their token), so one local user is never offered another's. Pure:
 * the browser tests name the same database.
 */

/** The `sub` of an access token (read, not verified: the server verifies it; this only keys local storage). */
export function tokenSubject(token: string): string | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const json: unknown = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/")));
    const sub = (json as { sub?: unknown }).sub;
    return typeof sub === "string" ? sub : undefined;
  } catch {
    return undefined;
  }
}

/** The IndexedDB database of one user's unfinished recordings. */
export function recordingsDatabase(user: string): string {
  return `tether-recordings:${user}`;
}
