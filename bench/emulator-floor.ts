/**
 * The floor under the ingress's ack latency: what the emulators alone take for the work one
 * ack waits for, at the rate real-time streams make it, with no ingress in the way. Each of
 * `streams` streams completes one 5 s chunk per 5 s (evenly spread); each chunk is published
 * to a Pub/Sub topic with the ingress's batching settings and, once confirmed, recorded
 * with one Firestore update of its stream's document (as the ingress records a durable
 * position). The topic is either read by nobody, or drained by a push subscription to an
 * endpoint that answers at once (as `npm start` pushes the audio topic to its worker).
 *
 * Runs in the bench process against the bench's emulators (PUBSUB_EMULATOR_HOST,
 * FIRESTORE_EMULATOR_HOST).
 */
import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Firestore } from "@google-cloud/firestore";
import { PubSub } from "@google-cloud/pubsub";
import { PUBLISH_BATCHING } from "../functions/ingress/publisher";
import { pushPath } from "../shared/pipeline";
import { CHUNK_BYTES, CHUNK_SECONDS } from "./realtime-streams";

export interface FloorOptions {
  readonly streams: number;
  readonly seconds: number;
  /** The topic is drained by a push subscription (else nobody reads it). */
  readonly subscribed: boolean;
  /** Each confirmed publish is followed by one Firestore update. */
  readonly recordDurable: boolean;
}

export interface Floor {
  /** Per chunk: publish, in ms. */
  readonly publishMs: number[];
  /** Per chunk: publish then record (or publish alone), in ms. */
  readonly totalMs: number[];
}

export async function emulatorFloor(options: FloorOptions): Promise<Floor> {
  const projectId = `bench-floor-${crypto.randomBytes(3).toString("hex")}`;
  const pubsub = new PubSub({ projectId });
  const firestore = new Firestore({ projectId });
  const [topic] = await pubsub.createTopic("chunks");
  // A push endpoint that drains the topic as fast as the emulator pushes.
  const drain = options.subscribed
    ? http.createServer((req, res) => {
        req.resume();
        req.on("end", () => res.writeHead(204).end());
      })
    : undefined;
  if (drain) {
    await new Promise<void>((resolve) => drain.listen(0, "127.0.0.1", resolve));
    const { port } = drain.address() as AddressInfo;
    await topic.createSubscription("chunks-sub", {
      ackDeadlineSeconds: 60,
      pushConfig: { pushEndpoint: `http://127.0.0.1:${port}${pushPath(projectId, "chunks")}` },
    });
  }
  const records = firestore.collection("streams");
  if (options.recordDurable) {
    for (let i = 0; i < options.streams; i += 50)
      await Promise.all(
        Array.from({ length: Math.min(50, options.streams - i) }, (_, j) =>
          records.doc(`s${i + j}`).set({ durable_position: 0 }),
        ),
      );
  }
  const batched = pubsub.topic("chunks", { batching: PUBLISH_BATCHING });
  const data = crypto.randomBytes(CHUNK_BYTES);
  const intervalMs = (CHUNK_SECONDS * 1000) / options.streams;
  const publishMs: number[] = [];
  const totalMs: number[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; (i * intervalMs) / 1000 < options.seconds; i += 1) {
    const due = start + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const sent = performance.now();
    const stream = i % options.streams;
    pending.push(
      (async () => {
        await batched.publishMessage({ data, attributes: { chunk_index: String(i) } });
        publishMs.push(performance.now() - sent);
        if (options.recordDurable) await records.doc(`s${stream}`).update({ durable_position: (i + 1) * CHUNK_BYTES });
        totalMs.push(performance.now() - sent);
      })(),
    );
  }
  await Promise.all(pending);
  if (drain) {
    await pubsub.subscription("chunks-sub").modifyPushConfig({});
    await new Promise<void>((resolve) => drain.close(() => resolve()));
  }
  await Promise.all([pubsub.close(), firestore.terminate()]);
  return { publishMs, totalMs };
}
