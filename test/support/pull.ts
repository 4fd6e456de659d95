/** Reads what a subscription holds, for assertions about where messages went. */
import type { Message, PubSub } from "@google-cloud/pubsub";

export interface PulledMessage {
  readonly id: string;
  readonly data: Buffer;
  readonly attributes: Record<string, string>;
  readonly orderingKey: string;
}

/**
 * Collects messages from `subscription` until `count` arrived or, after the last arrival,
 * `quietMs` pass with no new one (a subscription that should stay empty is watched for
 * `quietMs`). Every collected message is acked.
 */
export async function pullMessages(
  pubsub: PubSub,
  subscription: string,
  options: { count?: number; quietMs?: number; maxMs?: number } = {},
): Promise<PulledMessage[]> {
  const quietMs = options.quietMs ?? 1500;
  const maxMs = options.maxMs ?? 20_000;
  const sub = pubsub.subscription(subscription);
  const messages: PulledMessage[] = [];
  await new Promise<void>((resolveOnce, reject) => {
    const resolve = (): void => {
      clearTimeout(quiet);
      clearTimeout(hardStop);
      resolveOnce();
    };
    let quiet = setTimeout(resolve, quietMs);
    const hardStop = setTimeout(resolve, maxMs);
    sub.on("message", (message: Message) => {
      messages.push({
        id: message.id,
        data: message.data,
        attributes: { ...message.attributes },
        orderingKey: message.orderingKey ?? "",
      });
      message.ack();
      clearTimeout(quiet);
      if (options.count !== undefined && messages.length >= options.count) {
        resolve();
      } else {
        quiet = setTimeout(resolve, quietMs);
      }
    });
    sub.on("error", reject);
  });
  await sub.close();
  return messages;
}
