/** Identifier rules used in storage paths, document ids and the protocol. */
import { z } from "zod";

/** PROTOCOL.md section 2: a conversation id. */
export const conversationIdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, {
  message: "must be 8 to 64 characters of A-Z, a-z, 0-9, '_' or '-'",
});

/** Person ids appear in object paths (`people/{person_id}/`), so no '/' or dots. */
export const personIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, {
  message: "must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-'",
});

/** Segment ids become Firestore document ids: no '/', not '.' or '..'. */
export const segmentIdSchema = z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9_.:-]{0,127}$/, {
  message: "must be 1 to 128 characters of A-Z, a-z, 0-9, '_', '-', '.' or ':', not starting with '.' or ':'",
});

export const userIdSchema = z.string().min(1).max(128);
