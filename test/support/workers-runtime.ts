/**
 * An EnvironmentRuntime on a test environment (createTestEnvironment), with captured
 * logs, plus the documents the ingress would write, for worker and API tests that run
 * without an ingress.
 */
import crypto from "node:crypto";
import { Timestamp } from "@google-cloud/firestore";
import type { Bucket, File } from "@google-cloud/storage";
import { createRuntime, type EnvironmentRuntime } from "../../functions/runtime";
import type { Codec, SampleRate } from "../../shared/audio-format";
import { loadSettings } from "../../shared/config";
import { type ConversationDoc, conversationRef, type SessionDoc, sessionRef } from "../../shared/firestore-schema";
import * as lifecycle from "../../shared/lifecycle";
import type { TestEnvironment } from "./test-environment";
import { type CapturedLogs, captureLogs } from "./workers-logs";

export interface WorkerTestRuntime {
  readonly runtime: EnvironmentRuntime;
  readonly logs: CapturedLogs;
  readonly tokenSecret: string;
  close(): Promise<void>;
}

export function createWorkerTestRuntime(env: TestEnvironment): WorkerTestRuntime {
  const tokenSecret = crypto.randomBytes(24).toString("base64url");
  const logs = captureLogs();
  const runtime = createRuntime(
    loadSettings({
      TETHER_ENVIRONMENT: env.resources.environment,
      TETHER_PROJECT_ID: env.resources.projectId,
      TETHER_TOKEN_SECRET: tokenSecret,
      LOG_LEVEL: "debug",
    }),
    logs.logger,
  );
  return { runtime, logs, tokenSecret, close: () => runtime.clients.close() };
}

export function uniqueConversationId(prefix = "conv"): string {
  return `${prefix}-${crypto.randomBytes(6).toString("hex")}`;
}

/** The conversation document as the ingress creates it. */
export async function seedConversation(
  runtime: EnvironmentRuntime,
  fields: {
    id: string;
    userId: string;
    codec: Codec;
    sampleRate: SampleRate;
    chunkSize: number;
    status?: ConversationDoc["status"];
    finalPosition?: number | null;
    durablePosition?: number;
    finalizeReason?: ConversationDoc["finalize_reason"];
    eventsRecorded?: Record<string, number>;
    extractionGeneration?: number;
  },
): Promise<void> {
  const now = Timestamp.now();
  const doc: ConversationDoc = {
    id: fields.id,
    environment: runtime.resources.environment,
    user_id: fields.userId,
    codec: fields.codec,
    sample_rate: fields.sampleRate,
    channels: 1,
    chunk_size: fields.chunkSize,
    durable_position: fields.durablePosition ?? 0,
    status: fields.status ?? "in_progress",
    final_position: fields.finalPosition ?? null,
    finalize_reason: fields.finalizeReason ?? null,
    events_recorded: fields.eventsRecorded ?? {},
    sessions_opened: 1,
    extraction_generation: fields.extractionGeneration ?? 0,
    extraction_requested_generation: fields.extractionGeneration ?? 0,
    created_at: now,
    updated_at: now,
    finalized_at: null,
  };
  await conversationRef(runtime.clients.firestore, fields.id).set(doc);
}

/**
 * The ingress's finalize (shared/lifecycle.ts `beginFinalize`): `finalizing` at
 * `finalPosition`, with socket `sessionId`'s confirmed event count frozen.
 */
export async function beginFinalizeAsIngress(
  runtime: EnvironmentRuntime,
  conversationId: string,
  request: { finalPosition: number; reason: "client" | "idle_timeout"; sessionId: string; eventsConfirmed: number },
): Promise<void> {
  const db = runtime.clients.firestore;
  const ref = conversationRef(db, conversationId);
  await db.runTransaction(async (tx) => {
    const current = (await tx.get(ref)).data() as ConversationDoc | undefined;
    if (current === undefined) throw new Error(`no conversation ${conversationId}`);
    const update = lifecycle.beginFinalize(current, request);
    if ("refused" in update) throw new Error(`conversation ${conversationId} is ${update.status}`);
    tx.update(ref, update);
  });
}

/** A session document as the ingress writes it when a socket opens and closes. */
export async function seedSession(
  runtime: EnvironmentRuntime,
  conversationId: string,
  session: { id: string; startPosition: number; startedAt: Date; endedAt: Date | null },
): Promise<void> {
  const doc: SessionDoc = {
    session_id: session.id,
    start_position: session.startPosition,
    started_at: Timestamp.fromDate(session.startedAt),
    ended_at: session.endedAt ? Timestamp.fromDate(session.endedAt) : null,
    close_code: session.endedAt ? 1000 : null,
  };
  await sessionRef(runtime.clients.firestore, conversationId, session.id).set(doc);
}

/**
 * A worker slowed between its reads and its write: `runtime` with every upload of
 * `objectName` held until `release()`. `held` resolves once an upload waits there.
 */
export function holdUpload(
  runtime: EnvironmentRuntime,
  objectName: string,
): { runtime: EnvironmentRuntime; held: Promise<void>; release(): void } {
  let reached = () => {};
  const held = new Promise<void>((resolve) => {
    reached = resolve;
  });
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const bucket = runtime.clients.bucket;
  const file: Bucket["file"] = (name, options) => {
    const target = bucket.file(name, options);
    if (name !== objectName) return target;
    const save = target.save.bind(target);
    target.save = (async (...args: Parameters<File["save"]>) => {
      reached();
      await gate;
      return await save(...args);
    }) as File["save"];
    return target;
  };
  const heldBucket = new Proxy(bucket, {
    get: (target, key) => (key === "file" ? file : Reflect.get(target, key, target)),
  });
  return {
    runtime: { ...runtime, clients: { ...runtime.clients, bucket: heldBucket, close: runtime.clients.close } },
    held,
    release,
  };
}
