/**
 * The Record page's IndexedDB stores, read from the page the way the SDK's store lays them
 * out (conversations, and audio rows keyed [conversation key, start]).
 */
import type { Page } from "playwright-core";
import { recordingsDatabase } from "../../console/src/recordings-database";

/** What the SDK's IndexedDB store of `user`'s recordings holds (read the way the store lays it out). */
export async function storedInPage(
  page: Page,
  user: string,
): Promise<Array<{ conversationId: string | undefined; acked: number; held: number[] }>> {
  return await page.evaluate(async (database) => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const open = indexedDB.open(database, 1);
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    const get = <T>(req: IDBRequest<T>) =>
      new Promise<T>((resolve, reject) => {
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    const tx = db.transaction(["conversations", "audio"], "readonly");
    const rows = (await get(tx.objectStore("conversations").getAll())) as Array<{
      key: string;
      meta: { conversationId?: string };
      acked: number;
    }>;
    const audios = (await Promise.all(
      rows.map((row) =>
        get(tx.objectStore("audio").getAll(IDBKeyRange.bound([row.key, -Infinity], [row.key, Infinity]))),
      ),
    )) as Array<Array<{ start: number; data: Uint8Array }>>;
    db.close();
    return rows.map((row, i) => {
      const held: number[] = [];
      for (const a of audios[i] ?? []) {
        const from = Math.max(0, row.acked - a.start);
        for (let j = from; j < a.data.length; j += 1) held.push(a.data[j] as number);
      }
      return { conversationId: row.meta.conversationId, acked: row.acked, held };
    });
  }, recordingsDatabase(user));
}
