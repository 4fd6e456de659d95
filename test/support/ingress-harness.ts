/**
 * An ingress on the emulators for one test file: a fresh environment, the ingress bound to
 * a free port, its log lines captured, tokens minted with its key, and readers of what
 * reached its audio and events topics.
 */
import crypto from "node:crypto";
import type { Message, PubSub, Subscription } from "@google-cloud/pubsub";
import { createIngress, type IngressOptions, type RunningIngress } from "../../functions/ingress/server";
import { createRuntime, type EnvironmentRuntime, forComponent } from "../../functions/runtime";
import { signAccessToken } from "../../shared/auth";
import { loadSettings, requireTokenKeys } from "../../shared/config";
import { createLogger } from "../../shared/logger";
import { until } from "./poll";
import { createTestEnvironment, type TestEnvironment } from "./test-environment";

export type LogLine = Record<string, unknown> & { severity?: string; message?: string };

export interface HarnessOptions {
  readonly chunkSeconds?: number;
  readonly idleTimeoutSeconds?: number;
  readonly ingress?: IngressOptions;
  /** The `kid` of the environment's current key (TETHER_TOKEN_KID); none by default, as locally. */
  readonly tokenKid?: string;
  /** More settings (shared/config.ts variables), e.g. the per-user limits. */
  readonly settings?: Readonly<Record<string, string>>;
}

export interface IngressHarness {
  readonly env: TestEnvironment;
  readonly runtime: EnvironmentRuntime;
  readonly ingress: RunningIngress;
  readonly url: string;
  readonly tokenSecret: string;
  readonly logs: LogLine[];
  readonly audio: TopicReader;
  readonly events: TopicReader;
  token(userId?: string): Promise<string>;
  /** Starts another ingress instance of the same environment (same key, same topics). */
  startInstance(options?: IngressOptions): Promise<RunningIngress>;
  close(): Promise<void>;
}

export interface ReceivedMessage {
  readonly data: Buffer;
  readonly attributes: Record<string, string>;
  readonly orderingKey: string;
}

/** Collects every message of a subscription (acking it) and waits for conditions on them. */
export class TopicReader {
  readonly messages: ReceivedMessage[] = [];
  private readonly subscription: Subscription;

  constructor(pubsub: PubSub, name: string) {
    this.subscription = pubsub.subscription(name, { flowControl: { maxMessages: 1000 } });
    this.subscription.on("message", (message: Message) => {
      this.messages.push({
        data: message.data,
        attributes: message.attributes,
        orderingKey: message.orderingKey ?? "",
      });
      message.ack();
    });
    this.subscription.on("error", () => undefined);
  }

  forConversation(conversationId: string): ReceivedMessage[] {
    return this.messages.filter((m) => m.attributes.conversation_id === conversationId);
  }

  /** Polls until `condition` holds; throws with `what` if it does not within `timeoutMs`. */
  async waitFor(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
    await until(what, condition, timeoutMs);
  }

  async close(): Promise<void> {
    await this.subscription.close();
  }
}

export function logSink(lines: LogLine[]) {
  return {
    write(line: string): void {
      lines.push(JSON.parse(line) as LogLine);
    },
  };
}

export async function startIngressHarness(prefix: string, options: HarnessOptions = {}): Promise<IngressHarness> {
  const env = await createTestEnvironment(prefix);
  const tokenSecret = crypto.randomBytes(24).toString("base64url");
  const logs: LogLine[] = [];
  const settings = loadSettings({
    TETHER_ENVIRONMENT: env.resources.environment,
    TETHER_PROJECT_ID: env.resources.projectId,
    TETHER_TOKEN_SECRET: tokenSecret,
    ...(options.tokenKid === undefined ? {} : { TETHER_TOKEN_KID: options.tokenKid }),
    TETHER_CHUNK_SECONDS: String(options.chunkSeconds ?? 0.1),
    TETHER_IDLE_TIMEOUT_SECONDS: String(options.idleTimeoutSeconds ?? 120),
    LOG_LEVEL: "debug",
    ...options.settings,
  });
  const runtime = forComponent(
    createRuntime(settings, createLogger({ level: "debug", destination: logSink(logs) })),
    "ingress",
  );
  const instances: RunningIngress[] = [];
  const startInstance = async (extra: IngressOptions = options.ingress ?? {}): Promise<RunningIngress> => {
    const instance = await createIngress(runtime, extra).listen({ host: "127.0.0.1", port: 0 });
    instances.push(instance);
    return instance;
  };
  const ingress = await startInstance();
  const audio = new TopicReader(env.clients.pubsub, env.resources.subscriptions.persistAudio);
  const events = new TopicReader(env.clients.pubsub, env.resources.subscriptions.events);
  return {
    env,
    runtime,
    ingress,
    url: ingress.url,
    tokenSecret,
    logs,
    audio,
    events,
    token: (userId = "user-1") => signAccessToken(requireTokenKeys(settings), userId),
    startInstance,
    async close() {
      await Promise.allSettled(instances.map((i) => i.close()));
      await Promise.allSettled([audio.close(), events.close()]);
      await runtime.clients.close();
      await env.close();
    },
  };
}

/** Reassembles a conversation's audio from its chunks; throws on a gap or a conflicting duplicate. */
export function reassemble(chunks: readonly ReceivedMessage[]): {
  body: Buffer;
  indexes: number[];
  duplicates: number;
} {
  const byIndex = new Map<number, Buffer>();
  let duplicates = 0;
  for (const chunk of chunks) {
    const index = Number(chunk.attributes.chunk_index);
    const seen = byIndex.get(index);
    if (seen !== undefined) {
      duplicates += 1;
      if (!seen.equals(chunk.data)) throw new Error(`chunk ${index} arrived twice with different bytes`);
      continue;
    }
    byIndex.set(index, chunk.data);
  }
  const indexes = [...byIndex.keys()].sort((a, b) => a - b);
  indexes.forEach((index, i) => {
    if (index !== i) throw new Error(`chunk ${i} is missing (next present: ${index})`);
  });
  return { body: Buffer.concat(indexes.map((i) => byIndex.get(i) ?? Buffer.alloc(0))), indexes, duplicates };
}
