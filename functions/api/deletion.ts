/**
 * `DELETE /v1/conversations/{id}` and `DELETE /v1/people/{person_id}` (PROTOCOL section 3):
 * both answer `202` once the request is durable; the delete-data worker does the deletion.
 * A conversation's tombstone is written here, before the answer, so from the 202 on the
 * conversation answers 404 and can never be resumed. Idempotent: deleting again answers
 * 202 and publishes again (a lost publish is made good by the next DELETE or by the
 * retention run's sweep of unpurged tombstones).
 */
import type { Firestore } from "@google-cloud/firestore";
import type { Topic } from "@google-cloud/pubsub";
import type { Principal } from "../../shared/auth";
import { deletionMessage } from "../../shared/deletion-messages";
import type { EnvironmentName } from "../../shared/environment";
import { requestDeletion } from "../deletion/tombstone";
import { ApiError } from "./errors";
import { readOwnPerson } from "./people";

export interface DeletionDeps {
  readonly db: Firestore;
  readonly deletionTopic: Topic;
  readonly environment: EnvironmentName;
}

export async function deleteConversation(
  deps: DeletionDeps,
  conversationId: string,
  principal: Principal,
): Promise<{ id: string; status: "deleting" }> {
  const outcome = await requestDeletion(deps.db, conversationId, { userId: principal.userId, reason: "request" });
  switch (outcome.kind) {
    case "not_found":
      throw new ApiError(404, `conversation ${conversationId} does not exist in environment ${deps.environment}`);
    case "forbidden":
      throw new ApiError(403, `conversation ${conversationId} belongs to another user`);
    case "requested":
    case "already_deleted":
      await deps.deletionTopic.publishMessage(
        deletionMessage(deps.environment, { kind: "conversation", conversation_id: conversationId }),
      );
      return { id: conversationId, status: "deleting" };
  }
}

export async function deletePerson(
  deps: DeletionDeps,
  personId: string,
  principal: Principal,
): Promise<{ id: string; status: "deleting" }> {
  await readOwnPerson(deps.db, personId, principal);
  await deps.deletionTopic.publishMessage(
    deletionMessage(deps.environment, { kind: "person", person_id: personId, user_id: principal.userId }),
  );
  return { id: personId, status: "deleting" };
}
