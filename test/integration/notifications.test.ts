/**
 * Lifecycle notifications (PROTOCOL section 3) in two environments side by side: an app
 * backend's subscription on each environment's `notifications_topic` (named by the state
 * file) receives every step of its own conversation at least once, exactly once after
 * deduplication by event id, and never the other environment's.
 */
import { type RunningStack, startLocalStack } from "../../local/stack";
import { signAccessToken } from "../../shared/auth";
import { environmentResources, parseEnvironmentName } from "../../shared/environment";
import { createGcpClients, type GcpClients } from "../../shared/gcp-clients";
import { type Notification, type NotificationType, notificationSchema } from "../../shared/notifications";
import { eventually } from "../support/poll";
import { pullMessages } from "../support/pull";
import { onRunningEmulators, uniqueEnvironmentName } from "../support/test-environment";
import { captureLogs } from "../support/workers-logs";
import { pcm16Noise } from "../support/workers-messages";
import { ProtocolSocket } from "../support/workers-socket";

const STEPS: NotificationType[] = [
  "tether.conversation.finalized",
  "tether.extraction.done",
  "tether.conversation.deleted",
];

describe("notifications", () => {
  let stack: RunningStack;
  const environments = [
    parseEnvironmentName(uniqueEnvironmentName("nta")),
    parseEnvironmentName(uniqueEnvironmentName("ntb")),
  ];
  const clients = new Map<string, GcpClients>();

  beforeAll(async () => {
    stack = await startLocalStack({
      environments,
      ...onRunningEmulators(),
      chunkSeconds: 0.25,
      logger: captureLogs().logger,
    });
  });
  afterAll(async () => {
    await Promise.all([...clients.values()].map((c) => c.close()));
    await stack?.stop();
  });

  it("delivers each lifecycle step of each environment's conversation to that environment's subscriber only", async () => {
    const subscribers = await Promise.all(
      environments.map(async (environment) => {
        const state = stack.state.envs[environment];
        if (!state) throw new Error(`${environment} missing from the stack state`);
        const client = createGcpClients(environmentResources(environment, state.project_id));
        clients.set(environment, client);
        const name = `app-backend-${environment}`;
        await client.pubsub.topic(state.notifications_topic).createSubscription(name);
        return { environment, state, client, name };
      }),
    );

    const conversations = await Promise.all(
      subscribers.map(async ({ state }) => {
        const token = await signAccessToken(state.token_secret, "user-notify");
        const socket = await ProtocolSocket.open(`${state.ingress_url}?codec=pcm16&sample_rate=16000`, token);
        const id = (await socket.next("ready")).conversation_id as string;
        socket.sendAudio(pcm16Noise(12_000, 9));
        socket.sendJson({ type: "finalize" });
        await socket.next("finalized");
        const api = (method = "GET") =>
          fetch(`${state.api_url}/v1/conversations/${id}`, { method, headers: { authorization: `Bearer ${token}` } });
        await eventually(async () => {
          const body = (await (await api()).json()) as { extraction?: { status: string } };
          return body.extraction?.status === "done";
        }, `extraction of ${id}`);
        expect((await api("DELETE")).status).toBe(202);
        return id;
      }),
    );

    for (const [index, { environment, client, name }] of subscribers.entries()) {
      const mine = conversations[index] as string;
      const received: Notification[] = [];
      const byId = new Map<string, Notification>();
      await eventually(
        async () => {
          for (const message of await pullMessages(client.pubsub, name, { quietMs: 300, maxMs: 2000 })) {
            const notification = notificationSchema.parse(JSON.parse(message.data.toString("utf8")));
            received.push(notification);
            byId.set(notification.id, notification);
          }
          const steps = [...byId.values()].filter((n) => n.subject === mine).map((n) => n.type);
          return STEPS.every((step) => steps.includes(step));
        },
        `every step of ${mine} on ${environment}`,
        { timeoutMs: 40_000 },
      );
      // Never the other environment's, whatever else this environment published meanwhile.
      for (const notification of received) {
        expect(notification.data.environment).toBe(environment);
        expect(conversations.filter((c) => c !== mine)).not.toContain(notification.subject);
      }
      const deduplicated = [...byId.values()].filter((n) => n.subject === mine);
      expect(deduplicated.map((n) => n.type).sort()).toEqual([...STEPS].sort());
      for (const n of deduplicated) {
        expect(n).toMatchObject({
          specversion: "1.0",
          subject: mine,
          data: { conversation_id: mine, user_id: "user-notify" },
        });
      }
      const done = deduplicated.find((n) => n.type === "tether.extraction.done");
      expect(done?.data.people).toEqual([]);
    }
  });
});
