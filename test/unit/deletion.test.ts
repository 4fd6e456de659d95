/**
 * The pure parts of deletion, retention and notifications: the lifecycle's deletion mark,
 * the retention selection, the deletion messages and the notifications' event ids.
 */
import { parseDeletionMessage } from "../../functions/deletion/handler";
import { isExpired, retentionCutoff } from "../../functions/deletion/retention";
import { deletionMessage } from "../../shared/deletion-messages";
import { parseEnvironmentName } from "../../shared/environment";
import * as lifecycle from "../../shared/lifecycle";
import { buildNotification, notificationId, notificationSchema } from "../../shared/notifications";
import type { ReceivedMessage } from "../../shared/pubsub-event";

const dev = parseEnvironmentName("dev");
const at = (ms: number) => ({ toMillis: () => ms });

describe("lifecycle.markDeleted", () => {
  test("finalizes a streaming conversation at its durable position, with reason deleted", () => {
    expect(lifecycle.markDeleted({ status: "in_progress", durable_position: 4000, final_position: null })).toEqual({
      finalize_reason: "deleted",
      status: "finalizing",
      final_position: 4000,
    });
  });

  test("leaves a finished conversation's status and final position alone", () => {
    expect(lifecycle.markDeleted({ status: "finalized", durable_position: 9, final_position: 9 })).toEqual({
      finalize_reason: "deleted",
    });
  });

  test("stops every later transition: no flip, no new generation, no request, no recorded result", () => {
    const deleted = {
      status: "finalized" as const,
      finalize_reason: "deleted" as const,
      extraction_generation: 2,
      extraction_requested_generation: 1,
      extraction_generation_at: at(0),
    };
    expect(
      lifecycle.completeFinalization(
        { status: "finalizing", finalize_reason: "deleted" },
        { missingChunks: 0, missingEvents: 0, rejected: [] },
      ),
    ).toEqual({ refused: "not_finalizing", status: "finalizing" });
    expect(lifecycle.dataChanged(deleted, 10)).toBeUndefined();
    expect(lifecycle.unrequestedGeneration(deleted)).toBeUndefined();
    expect(lifecycle.mayRecordExtraction(deleted, 2)).toBe(false);
    expect(lifecycle.mayRecordExtraction({ ...deleted, finalize_reason: "client" }, 2)).toBe(true);
  });
});

describe("retention selection", () => {
  const now = new Date("2026-12-07T00:00:00Z");
  const cutoff = retentionCutoff(now, 30);

  test("the cutoff is the retention period before now", () => {
    expect(cutoff.toISOString()).toBe("2026-11-07T00:00:00.000Z");
  });

  test("a conversation expires once its last change is older than the period, unless already being deleted", () => {
    expect(isExpired({ updated_at: at(cutoff.getTime() - 1) }, cutoff)).toBe(true);
    expect(isExpired({ updated_at: at(cutoff.getTime()) }, cutoff)).toBe(false);
    expect(isExpired({ updated_at: at(now.getTime()) }, cutoff)).toBe(false);
    expect(isExpired({ updated_at: at(0), deleted_at: at(1) }, cutoff)).toBe(false);
  });
});

describe("deletion messages", () => {
  const received = (message: { data: Buffer; attributes: Record<string, string> }): ReceivedMessage => ({
    id: "m1",
    data: message.data,
    attributes: message.attributes,
    publishTime: undefined,
    orderingKey: undefined,
    deliveryAttempt: undefined,
  });

  test("round-trip through the worker's parser", () => {
    const body = { kind: "retention" as const, retention_days: 30 };
    expect(parseDeletionMessage(received(deletionMessage(dev, body)), dev)).toEqual({ ok: true, body });
  });

  test("another environment's, a body that contradicts its kind, or a bad id is refused with why", () => {
    const message = deletionMessage(dev, { kind: "conversation", conversation_id: "c-1" });
    const staging = parseEnvironmentName("staging");
    expect(parseDeletionMessage(received(message), staging)).toMatchObject({
      ok: false,
      rejection: { reason: "wrong_environment" },
    });
    expect(
      parseDeletionMessage(received({ ...message, attributes: { environment: "dev", kind: "person" } }), dev),
    ).toMatchObject({ ok: false, rejection: { reason: "invalid_body" } });
    const badId = {
      data: Buffer.from(JSON.stringify({ kind: "conversation", conversation_id: "../x" })),
      attributes: message.attributes,
    };
    expect(parseDeletionMessage(received(badId), dev)).toMatchObject({
      ok: false,
      rejection: { reason: "invalid_body" },
    });
  });
});

describe("notifications", () => {
  test("the event id is one per lifecycle step, the same on every publish of it", () => {
    expect(notificationId("tether.conversation.finalized", "c1")).toBe("c1/finalized");
    expect(notificationId("tether.conversation.deleted", "c1")).toBe("c1/deleted");
    expect(notificationId("tether.extraction.done", "c1", 2)).toBe(notificationId("tether.extraction.failed", "c1", 2));
    expect(notificationId("tether.extraction.done", "c1", 2)).not.toBe(
      notificationId("tether.extraction.done", "c1", 3),
    );
  });

  test("a notification is a CloudEvent 1.0 with the conversation as its subject", () => {
    const event = buildNotification(
      "tether.extraction.done",
      {
        conversation_id: "c1",
        user_id: "u1",
        environment: dev,
        generation: 1,
        people: [{ person_id: "p1", status: "extracted", samples: 2 }],
      },
      new Date("2026-12-07T00:00:00Z"),
    );
    expect(notificationSchema.parse(event)).toEqual(event);
    expect(event).toMatchObject({
      specversion: "1.0",
      id: "c1/extraction/1",
      type: "tether.extraction.done",
      subject: "c1",
      source: "//tether/environments/dev",
      time: "2026-12-07T00:00:00.000Z",
    });
  });
});
