/**
 * The API's page cursors: opaque to clients (base64url JSON of the last item's sort keys),
 * validated with the page's schema when they come back (400 when not one we returned).
 */
import type { z } from "zod";
import { ApiError } from "./errors";

export function encodeCursor(cursor: unknown): string {
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

/** The cursor of a query parameter, or undefined when absent or empty. */
export function decodeCursor<T>(raw: string | null, schema: z.ZodType<T>): T | undefined {
  if (raw === null || raw === "") return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    throw new ApiError(400, "cursor is not one this API returned");
  }
  const cursor = schema.safeParse(decoded);
  if (!cursor.success) throw new ApiError(400, "cursor is not one this API returned");
  return cursor.data;
}
