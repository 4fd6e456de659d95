/**
 * Everything an environment's stores hold of one conversation, listed store by store: the
 * bucket (its `conversations/{id}/` prefix, and every object under `people/` whose metadata
 * names it), the conversation record and each of its subcollections, every profile sample
 * that names it, and its tombstone. After a delete only the tombstone may be left.
 */
import type { Firestore } from "@google-cloud/firestore";
import type { Bucket } from "@google-cloud/storage";
import { COLLECTIONS, conversationRef, tombstoneRef } from "../../shared/firestore-schema";
import { conversationPrefix } from "../../shared/storage-paths";

export interface ConversationFootprint {
  readonly objects: string[];
  readonly record: boolean;
  /** Subcollection name -> how many documents it holds. */
  readonly subcollections: Record<string, number>;
  /** `person_id/sample_id` of every profile sample taken from the conversation. */
  readonly profileSamples: string[];
  readonly tombstone: boolean;
}

export async function footprintOf(
  db: Firestore,
  bucket: Bucket,
  conversationId: string,
): Promise<ConversationFootprint> {
  const [[own], [people]] = await Promise.all([
    bucket.getFiles({ prefix: conversationPrefix(conversationId) }),
    bucket.getFiles({ prefix: "people/" }),
  ]);
  const objects = [
    ...own.map((f) => f.name),
    ...people
      .filter((f) => (f.metadata.metadata as Record<string, unknown> | undefined)?.conversation_id === conversationId)
      .map((f) => f.name),
  ];
  const ref = conversationRef(db, conversationId);
  const [record, collections, persons, tombstone] = await Promise.all([
    ref.get(),
    ref.listCollections(),
    db.collectionGroup(COLLECTIONS.people).get(),
    tombstoneRef(db, conversationId).get(),
  ]);
  const subcollections: Record<string, number> = {};
  for (const collection of collections) {
    const snapshot = await collection.get();
    if (snapshot.size > 0) subcollections[collection.id] = snapshot.size;
  }
  const profileSamples = persons.docs.flatMap((person) =>
    ((person.data().samples ?? []) as Array<{ conversation_id: string; sample_id: string }>)
      .filter((s) => s.conversation_id === conversationId)
      .map((s) => `${person.id}/${s.sample_id}`),
  );
  return { objects, record: record.exists, subcollections, profileSamples, tombstone: tombstone.exists };
}

/** What is left after a delete: the tombstone, nothing else. */
export const ONLY_THE_TOMBSTONE: ConversationFootprint = {
  objects: [],
  record: false,
  subcollections: {},
  profileSamples: [],
  tombstone: true,
};
