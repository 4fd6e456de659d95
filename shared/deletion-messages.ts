/**
 * The messages of the `deletion` topic, read by the delete-data worker: delete one
 * conversation (after the API wrote its tombstone), delete one person's profile, or run the
 * retention sweep (published by Cloud Scheduler, with the stack's retention period).
 * The API, infra's scheduler job and the worker all build or read them here.
 */
import { z } from "zod";
import type { EnvironmentName } from "./environment";
import { conversationIdSchema, personIdSchema } from "./identifiers";

export const DELETION_KINDS = ["conversation", "person", "retention"] as const;
export type DeletionKind = (typeof DELETION_KINDS)[number];

export const deletionAttributesSchema = z.object({ environment: z.string(), kind: z.enum(DELETION_KINDS) }).loose();

export const deletionBodySchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("conversation"), conversation_id: conversationIdSchema }),
  z.object({ kind: z.literal("person"), person_id: personIdSchema, user_id: z.string().min(1) }),
  z.object({
    kind: z.literal("retention"),
    retention_days: z.number().int().positive(),
  }),
]);
export type DeletionBody = z.infer<typeof deletionBodySchema>;

/** A deletion message: its body and attributes. Pure. */
export function deletionMessage(
  environment: EnvironmentName,
  body: DeletionBody,
): { data: Buffer; attributes: Record<string, string> } {
  return { data: Buffer.from(JSON.stringify(body)), attributes: { environment, kind: body.kind } };
}
