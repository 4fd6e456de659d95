/**
 * `GET /v1/people/{person_id}`: a speaker profile's samples and embedding summary (the
 * vector itself stays server-side). Same ownership rule as conversations: 404 when this
 * environment has no such person, 403 when it belongs to another user.
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

export async function loadOwnedPerson(db: Firestore, personId: string, principal: Principal): Promise<PersonView> {
  const person = (await personRef(db, personId).withConverter(CONVERTERS.person).get()).data();
  if (!person) throw new ApiError(404, `person ${personId} does not exist`);
  if (person.user_id !== principal.userId) throw new ApiError(403, `person ${personId} belongs to another user`);
  return personView(person, personId);
}
