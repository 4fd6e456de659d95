/**
 * The values a conversation's record and the contract share, declared once as plain arrays
 * that the browser build imports too; the zod enums and the types derive from them.
 */
export const CONVERSATION_STATUSES = ["in_progress", "finalizing", "finalized"] as const;
export type ConversationStatus = (typeof CONVERSATION_STATUSES)[number];

/** Why a conversation ended: its client said so, it sat idle, or it was deleted. */
export const FINALIZE_REASONS = ["client", "idle_timeout", "deleted"] as const;
export type FinalizeReason = (typeof FINALIZE_REASONS)[number];

/** The reasons an ingress finalizes with (a delete finalizes through the API). */
export const INGRESS_FINALIZE_REASONS = ["client", "idle_timeout"] as const satisfies readonly FinalizeReason[];
export type IngressFinalizeReason = (typeof INGRESS_FINALIZE_REASONS)[number];
