/**
 * Finalizes the conversations nobody will: a conversation's idle timer lives on the ingress
 * instance that served it, so when that instance dies (crash, scale-in, SIGKILL) and its
 * client never comes back, the conversation would stay `in_progress` forever.
 *
 * Every `interval`, one page of each status is read (pages rotate through the collection):
 * - `in_progress`, record unwritten for idle timeout + grace, not served here: adopted as a
 *   resume would (conditional on the record being unchanged since it was listed, so an
 *   owner that still writes keeps it) and finalized at its durable position with reason
 *   `idle_timeout`, through the detached idle path (conversation-registry.ts).
 * - `finalizing`, record unwritten for the grace: everything is durable (the ingress records
 *   `finalizing` only after the final chunk and events are confirmed), but the finalize
 *   event that has the workers check completion was lost, or the check is still waiting;
 *   the finalize event is published again (the check is idempotent), once per grace across
 *   instances (claimed by a conditional write). That alone finishes the finalization.
 *
 * A record's `updated_at` moves with every durable-position advance, so a conversation
 * whose audio flows elsewhere is never stale. One sweep at a time; a failure on one
 * conversation is logged and the sweep goes on.
 */

import type { ConversationStatus } from "../../shared/conversation-values";
import { conversationLogger, LOG_EVENTS, type Logger } from "../../shared/logger";
import type { ConversationRegistry } from "./conversation-registry";
import type { ConversationStore, ListedConversation } from "./conversation-store";
import { newSessionId } from "./ids";
import type { FinalizeReason } from "./live-conversation";
import type { IngressPublisher } from "./publisher";

export interface SweepRules {
  readonly environment: string;
  readonly idleTimeoutMs: number;
  readonly graceMs: number;
}

export type SweepAction =
  | { readonly kind: "skip"; readonly why: "held_here" | "recent" | "deleted" }
  /** In progress and abandoned: adopt and finalize at the durable position. */
  | { readonly kind: "finalize" }
  /** Stuck in `finalizing`: publish its finalize event again. */
  | { readonly kind: "republish"; readonly finalPosition: number; readonly reason: FinalizeReason }
  /** The record cannot be acted on. */
  | { readonly kind: "invalid"; readonly problem: string };

/** What a sweep does with one listed record (pure: the clock and the registry are inputs). */
export function sweepAction(
  listed: ListedConversation,
  nowMs: number,
  heldHere: boolean,
  rules: SweepRules,
): SweepAction {
  if (!listed.record.ok) return { kind: "invalid", problem: `malformed record: ${listed.record.problem}` };
  const record = listed.record.value;
  if (record.environment !== rules.environment) {
    return { kind: "invalid", problem: `the record belongs to environment ${record.environment}` };
  }
  if (heldHere) return { kind: "skip", why: "held_here" };
  const updatedAtMs = (record.updated_at ?? listed.updateTime).toMillis();
  const quietMs = nowMs - updatedAtMs;
  switch (record.status) {
    case "in_progress":
      return quietMs >= rules.idleTimeoutMs + rules.graceMs ? { kind: "finalize" } : { kind: "skip", why: "recent" };
    case "finalizing": {
      if (quietMs < rules.graceMs) return { kind: "skip", why: "recent" };
      // Being deleted: the delete-data worker purges it; nothing is left to finalize.
      if (record.finalize_reason === "deleted") return { kind: "skip", why: "deleted" };
      const finalPosition = record.final_position;
      const reason = record.finalize_reason;
      if (finalPosition === null || finalPosition === undefined || reason === null || reason === undefined) {
        return { kind: "invalid", problem: "finalizing without a recorded final_position and finalize_reason" };
      }
      return { kind: "republish", finalPosition, reason };
    }
    default:
      return { kind: "skip", why: "recent" };
  }
}

export interface OrphanSweeperDeps {
  readonly store: ConversationStore;
  readonly registry: ConversationRegistry;
  readonly publisher: IngressPublisher;
  readonly logger: Logger;
  readonly rules: SweepRules;
  readonly intervalMs: number;
  readonly batchSize: number;
  readonly now?: () => number;
}

export interface SweepSummary {
  readonly finalized: number;
  readonly republished: number;
  readonly failed: number;
}

const SWEPT_STATUSES = ["in_progress", "finalizing"] as const satisfies readonly ConversationStatus[];
type SweptStatus = (typeof SWEPT_STATUSES)[number];

export class OrphanSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SweepSummary> | undefined;
  /** Where the next page of each status starts (undefined: from the beginning). */
  private readonly cursors = new Map<SweptStatus, string | undefined>();
  private readonly now: () => number;

  constructor(private readonly deps: OrphanSweeperDeps) {
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), this.deps.intervalMs);
    this.timer.unref();
  }

  /** No further sweeps; resolves once a sweep in progress is over. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private tick(): void {
    if (this.running !== undefined) {
      this.deps.logger.debug({ conversation_id: null }, "orphan sweep skipped: the previous one is still running");
      return;
    }
    this.running = this.sweep().finally(() => {
      this.running = undefined;
    });
  }

  /** One sweep over a page of each status; never rejects. */
  async sweep(): Promise<SweepSummary> {
    const summary = { finalized: 0, republished: 0, failed: 0 };
    for (const status of SWEPT_STATUSES) {
      let page: ListedConversation[];
      try {
        page = await this.deps.store.listByStatus(status, this.cursors.get(status), this.deps.batchSize);
      } catch (error) {
        this.deps.logger.error({ err: error, conversation_id: null, status }, "orphan sweep: listing failed");
        summary.failed += 1;
        continue;
      }
      this.cursors.set(status, page.length < this.deps.batchSize ? undefined : page.at(-1)?.conversationId);
      for (const listed of page) {
        const outcome = await this.sweepOne(listed);
        if (outcome === "finalized") summary.finalized += 1;
        else if (outcome === "republished") summary.republished += 1;
        else if (outcome === "failed") summary.failed += 1;
      }
    }
    return summary;
  }

  private async sweepOne(listed: ListedConversation): Promise<"finalized" | "republished" | "failed" | "none"> {
    const logger = conversationLogger(this.deps.logger, {
      conversation_id: listed.conversationId,
      environment: this.deps.rules.environment,
    });
    const action = sweepAction(listed, this.now(), this.deps.registry.has(listed.conversationId), this.deps.rules);
    try {
      switch (action.kind) {
        case "skip":
          return "none";
        case "invalid":
          logger.error({ problem: action.problem }, "orphan sweep: record skipped");
          return "failed";
        case "finalize":
          return await this.finalize(listed, logger);
        case "republish":
          return await this.republish(listed, action, logger);
      }
    } catch (error) {
      logger.error({ err: error, action: action.kind }, "orphan sweep: failed on this conversation");
      return "failed";
    }
  }

  private async finalize(listed: ListedConversation, logger: Logger): Promise<"finalized" | "none"> {
    const sessionId = newSessionId();
    const outcome = await this.deps.registry.finalizeOrphan(listed, sessionId);
    switch (outcome.kind) {
      case "finalized":
        logger.info(
          { final_position: outcome.finalPosition, reason: "idle_timeout", session_id: sessionId },
          "orphan sweep: abandoned conversation finalized",
        );
        return "finalized";
      case "moved_on":
        logger.info({ code: outcome.code }, `orphan sweep: not finalized (${outcome.message})`);
        return "none";
      case "held":
      case "changed":
        logger.debug({ outcome: outcome.kind }, "orphan sweep: not finalized, the conversation is alive");
        return "none";
    }
  }

  private async republish(
    listed: ListedConversation,
    action: Extract<SweepAction, { kind: "republish" }>,
    logger: Logger,
  ): Promise<"republished" | "none"> {
    if (!listed.record.ok) return "none";
    const record = listed.record.value;
    if (!(await this.deps.store.claimStale(listed))) {
      logger.debug("orphan sweep: finalizing record changed since listed; not re-published");
      return "none";
    }
    const eventId = await this.deps.publisher.publishEvent(
      {
        environment: this.deps.rules.environment,
        conversationId: listed.conversationId,
        userId: record.user_id,
        sessionId: record.active_session ?? newSessionId(),
        sessionOrdinal: record.sessions_opened ?? 0,
      },
      { type: "finalize", final_position: action.finalPosition, reason: action.reason },
      0,
    );
    logger.info(
      {
        log_event: LOG_EVENTS.finalizationStuck,
        final_position: action.finalPosition,
        reason: action.reason,
        event_id: eventId,
      },
      "orphan sweep: finalize event of a stuck conversation re-published",
    );
    return "republished";
  }
}
