/**
 * `GET /v1/people/{person_id}`: the caller's profile of that person, its samples and
 * embedding summary (the vector itself stays server-side). Person ids are scoped per user:
 * another user's profile of the same id is never read, and 404 means the caller has none.
 */
import type { Firestore } from "@google-cloud/firestore";
import type { Principal } from "../../shared/auth";
import { CONVERTERS, type PersonDoc, personRef } from "../../shared/firestore-schema";
import { ApiError } from "./errors";

export interface PersonView {
  id: string;
  samples: Array<{ uri: string; conversation_id: string; segment_ids: string[]; duration_ms: number }>;
  embedding: { model: string; dim: number } | null;
}

/** PROTOCOL.md section 3's person object. Pure. */
export function personView(person: PersonDoc, personId: string): PersonView {
  return {
    id: person.id ?? personId,
    samples: (person.samples ?? []).map((s) => ({
      uri: s.uri,
      conversation_id: s.conversation_id,
      segment_ids: s.segment_ids,
      duration_ms: s.duration_ms,
    })),
    embedding: person.embedding ? { model: person.embedding.model, dim: person.embedding.dim } : null,
  };
}

/** The caller's profile of `personId`, or 404. */
export async function readOwnPerson(db: Firestore, personId: string, principal: Principal): Promise<PersonDoc> {
  const person = (await personRef(db, principal.userId, personId).withConverter(CONVERTERS.person).get()).data();
  if (!person) throw new ApiError(404, `person ${personId} does not exist`);
  return person;
}

export async function loadOwnedPerson(db: Firestore, personId: string, principal: Principal): Promise<PersonView> {
  return personView(await readOwnPerson(db, personId, principal), personId);
}
