/** What a conversation left in its environment's bucket and database, for comparisons. */
import { COLLECTIONS, conversationRef } from "../../shared/firestore-schema";
import type { GcpClients } from "../../shared/gcp-clients";
import { conversationPrefix } from "../../shared/storage-paths";

export interface StoredObject {
  /** Name below `conversations/{id}/`. */
  readonly name: string;
  readonly bytes: Buffer;
  readonly metadata: Record<string, unknown>;
}

export async function storedObjects(clients: GcpClients, conversationId: string): Promise<StoredObject[]> {
  const prefix = conversationPrefix(conversationId);
  const [files] = await clients.bucket.getFiles({ prefix });
  const objects = await Promise.all(
    files.map(async (file) => {
      const [bytes] = await file.download();
      return { name: file.name.slice(prefix.length), bytes, metadata: { ...(file.metadata.metadata ?? {}) } };
    }),
  );
  return objects.sort((a, b) => a.name.localeCompare(b.name));
}

/** Every document under the conversation (and the conversation itself), by path below it. */
export async function storedDocuments(
  clients: GcpClients,
  conversationId: string,
): Promise<Record<string, Record<string, unknown>>> {
  const ref = conversationRef(clients.firestore, conversationId);
  const out: Record<string, Record<string, unknown>> = {};
  const root = await ref.get();
  if (root.exists) out["."] = root.data() ?? {};
  for (const name of Object.values(COLLECTIONS)) {
    if (name === COLLECTIONS.conversations || name === COLLECTIONS.people) continue;
    const snapshot = await ref.collection(name).get();
    for (const doc of snapshot.docs) out[`${name}/${doc.id}`] = doc.data();
  }
  return out;
}
