/**
 * An environment's dead letters, for operators: read them without consuming them, and
 * replay chosen ones to the topic they came from. `npm run dead-letters` (scripts/
 * dead-letters.ts) is the command line over it; the same code runs against the local
 * emulators and a real project, because only the PubSub client differs.
 *
 * A dead letter is the original message (data and attributes) plus the annotations the
 * worker that refused it added (functions/dead-letter.ts): `rejection_reason`,
 * `rejection_detail`, `rejected_by` and `original_message_id`. The topic it came from is
 * the topic of the worker named in `rejected_by`, per the pipeline declaration.
 *
 * Dead letters are read with synchronous pull from the operator subscription and held
 * (not acknowledged) while a command runs; those not replayed are released at once, so
 * they stay in the store for the next look.
 */
import type { PubSub } from "@google-cloud/pubsub";
import type { EnvironmentResources } from "../shared/environment";
import { publishTimeDate, subscriberClientFor } from "../shared/gcp-clients";
import { PIPELINE, type Pipeline, type TopicKey, workersOf } from "../shared/pipeline";

/** A message as pulled from the dead-letter store. */
export interface DeadLetter {
  readonly ackId: string;
  /** The dead letter's own message id. */
  readonly id: string;
  /** When it was dead-lettered. */
  readonly publishTime: Date;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
}

/** What an operator sees of one dead letter. */
export interface DeadLetterView {
  readonly id: string;
  readonly time: string;
  readonly reason: string;
  readonly detail: string;
  readonly conversationId: string;
  /** The component that refused it (`rejected_by`). */
  readonly component: string;
  /** The topic it came from, if it can be told. */
  readonly topic: TopicKey | undefined;
  readonly originalMessageId: string;
  readonly bytes: number;
}

/** Attributes dead-lettering adds: everything `rejection_*`, plus these. */
const ANNOTATIONS: ReadonlySet<string> = new Set(["rejected_by", "original_message_id", "original_topic"]);

/** The attributes the message had before it was dead-lettered. */
export function originalAttributes(attributes: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(attributes).filter(([key]) => !key.startsWith("rejection_") && !ANNOTATIONS.has(key)),
  );
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * The topic a dead letter came from: an explicit `original_topic` attribute (a topic key)
 * if present, else the topic of the worker that refused it (`rejected_by` is the worker's
 * component key in kebab case, e.g. `persist-audio`, or its entry point).
 */
export function originalTopic(
  attributes: Readonly<Record<string, string>>,
  pipeline: Pipeline = PIPELINE,
): TopicKey | undefined {
  const explicit = attributes.original_topic;
  if (explicit !== undefined && explicit in pipeline.topics) return explicit as TopicKey;
  const by = attributes.rejected_by;
  if (by === undefined) return undefined;
  return workersOf(pipeline).find((w) => kebab(w.component) === by || w.component === by || w.entryPoint === by)?.topic;
}

export function describeDeadLetter(letter: DeadLetter, pipeline: Pipeline = PIPELINE): DeadLetterView {
  const a = letter.attributes;
  return {
    id: letter.id,
    time: letter.publishTime.toISOString(),
    reason: a.rejection_reason ?? "unknown",
    detail: a.rejection_detail ?? "",
    conversationId: a.conversation_id ?? "unknown",
    component: a.rejected_by ?? "unknown",
    topic: originalTopic(a, pipeline),
    originalMessageId: a.original_message_id ?? "",
    bytes: letter.data.length,
  };
}

/** A plain-text table, one row per dead letter; `detail` is cut to `detailWidth` characters. */
export function formatTable(views: readonly DeadLetterView[], detailWidth = 60): string {
  const header = ["id", "dead-lettered at", "reason", "conversation", "topic", "rejected by", "detail"];
  const cut = (text: string) => (text.length > detailWidth ? `${text.slice(0, detailWidth - 1)}…` : text);
  const rows = views.map((v) => [
    v.id,
    v.time,
    v.reason,
    v.conversationId,
    v.topic ?? "?",
    v.component,
    cut(v.detail.replace(/\s+/g, " ")),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** Counts by reason, for a summary line. */
export function countByReason(views: readonly DeadLetterView[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of views) counts[v.reason] = (counts[v.reason] ?? 0) + 1;
  return counts;
}

// ---------------------------------------------------------------------------------------
// The adapter: synchronous pull on the operator subscription.

/** Pulls that must come back empty in a row before the store counts as read to the end. */
const EMPTY_PULLS_TO_STOP = 3;

interface HeldLetters {
  readonly letters: DeadLetter[];
  ack(ackIds: readonly string[]): Promise<void>;
  release(ackIds: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** Pulls every dead letter the store holds now and keeps them leased until acked or released. */
async function holdAll(pubsub: PubSub, resources: EnvironmentResources): Promise<HeldLetters> {
  // The PubSub client's own settings: emulator host or Google Cloud, credentials, project.
  const client = await subscriberClientFor(pubsub);
  const subscription = client.subscriptionPath(resources.projectId, resources.subscriptions.deadLetter);
  const letters: DeadLetter[] = [];
  const seen = new Set<string>();
  const release = async (ackIds: readonly string[]) => {
    for (let i = 0; i < ackIds.length; i += 1000) {
      await client.modifyAckDeadline({ subscription, ackIds: ackIds.slice(i, i + 1000), ackDeadlineSeconds: 0 });
    }
  };
  try {
    for (let empty = 0; empty < EMPTY_PULLS_TO_STOP; ) {
      const [response] = await client.pull({ subscription, maxMessages: 1000, returnImmediately: true });
      const received = response.receivedMessages ?? [];
      if (received.length === 0) {
        empty += 1;
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      empty = 0;
      for (const { ackId, message } of received) {
        if (!ackId || !message) continue;
        const id = message.messageId ?? "";
        if (seen.has(id)) continue; // a redelivery of one already held
        seen.add(id);
        letters.push({
          ackId,
          id,
          publishTime: publishTimeDate(message.publishTime ?? {}),
          data: Buffer.from(message.data ?? new Uint8Array()),
          attributes: { ...(message.attributes ?? {}) },
        });
      }
    }
  } catch (error) {
    await release(letters.map((l) => l.ackId)).catch(() => undefined);
    await client.close();
    throw error;
  }
  return {
    letters,
    async ack(ackIds) {
      for (let i = 0; i < ackIds.length; i += 1000) {
        await client.acknowledge({ subscription, ackIds: ackIds.slice(i, i + 1000) });
      }
    },
    release,
    close: () => client.close(),
  };
}

/** Every dead letter of the environment, oldest first; none is consumed. */
export async function listDeadLetters(
  pubsub: PubSub,
  resources: EnvironmentResources,
  pipeline: Pipeline = PIPELINE,
): Promise<DeadLetterView[]> {
  const held = await holdAll(pubsub, resources);
  try {
    await held.release(held.letters.map((l) => l.ackId));
  } finally {
    await held.close();
  }
  return held.letters
    .map((letter) => describeDeadLetter(letter, pipeline))
    .sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
}

export type ReplayOutcome =
  | { readonly view: DeadLetterView; readonly replayed: true; readonly messageId: string }
  | { readonly view: DeadLetterView; readonly replayed: false; readonly why: string };

/**
 * Replays the dead letters `select` picks: publishes the original data and attributes to
 * the topic they came from, then acknowledges the dead letter (a failed publish leaves it
 * in the store). Everything else stays in the store.
 */
export async function replayDeadLetters(
  pubsub: PubSub,
  resources: EnvironmentResources,
  select: (view: DeadLetterView) => boolean,
  pipeline: Pipeline = PIPELINE,
): Promise<ReplayOutcome[]> {
  const held = await holdAll(pubsub, resources);
  const outcomes: ReplayOutcome[] = [];
  const keep: string[] = [];
  try {
    for (const letter of held.letters) {
      const view = describeDeadLetter(letter, pipeline);
      if (!select(view)) {
        keep.push(letter.ackId);
        continue;
      }
      if (view.topic === undefined) {
        keep.push(letter.ackId);
        outcomes.push({ view, replayed: false, why: `cannot tell its topic (rejected_by=${view.component})` });
        continue;
      }
      try {
        const messageId = await pubsub.topic(resources.topics[view.topic]).publishMessage({
          data: letter.data,
          attributes: originalAttributes(letter.attributes),
        });
        await held.ack([letter.ackId]);
        outcomes.push({ view, replayed: true, messageId });
      } catch (error) {
        keep.push(letter.ackId);
        outcomes.push({ view, replayed: false, why: (error as Error).message });
      }
    }
  } finally {
    await held.release(keep).catch(() => undefined);
    await held.close();
  }
  return outcomes;
}
