/**
 * The SDK's store for browsers, in IndexedDB, so a reloaded or crashed tab loses none of
 * the audio the SDK accepted: `write` resolves only once its audio is committed, and the
 * session sends it only then. Acknowledged audio is deleted as acks arrive.
 *
 *   const storage = indexedDbStore();
 *   const session = await connect({ url, token, storage });
 *   ... the tab reloads ...
 *   for (const r of await resumeStored(storage, { token })) ...
 *
 * Two object stores: `conversations` (one record per conversation: meta, acked position,
 * held text messages) and `audio` (one row per write, keyed [conversation key, start]).
 * IndexedDB runs read-write transactions over the same stores in the order they were
 * created, which keeps the log's writes in stream order.
 */
import type { ConversationLog, ConversationStorage, StoredAudio, StoredConversation, StoredMeta } from "../store";

export interface IndexedDbStoreOptions {
  /** Database name. Default `tether-sdk`. */
  readonly database?: string;
  /** Cap on unacknowledged audio per conversation (bytes); `write` waits at it. Default: the session's replayBufferBytes. */
  readonly maxBytes?: number;
  /** The IndexedDB factory (default: the page's `indexedDB`). */
  readonly indexedDB?: IDBFactory;
}

const CONVERSATIONS = "conversations";
const AUDIO = "audio";

interface ConversationRow {
  key: string;
  meta: StoredMeta;
  acked: number;
  messages: readonly string[];
}

interface AudioRow {
  start: number;
  data: Uint8Array;
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error("IndexedDB request failed"));
  });
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
  });
}

function audioRange(key: string, from = Number.NEGATIVE_INFINITY, to = Number.POSITIVE_INFINITY): IDBKeyRange {
  return IDBKeyRange.bound([key, from], [key, to], false, true);
}

class IndexedDbLog implements ConversationLog {
  private last: Promise<void> = Promise.resolve();
  /** [start, end) of each stored row, to delete rows once wholly acknowledged. */
  private rows: Array<{ start: number; end: number }>;
  private removed = false;

  constructor(
    private readonly db: IDBDatabase,
    private row: ConversationRow,
    rows: Array<{ start: number; end: number }>,
  ) {
    this.rows = rows;
  }

  get key(): string {
    return this.row.key;
  }

  appendAudio(start: number, data: Uint8Array): Promise<void> {
    const tx = this.db.transaction(AUDIO, "readwrite");
    tx.objectStore(AUDIO).put({ start, data } satisfies AudioRow, [this.row.key, start]);
    this.rows.push({ start, end: start + (this.row.meta.codec === "pcm16" ? data.length : 1) });
    return this.track(committed(tx));
  }

  acknowledge(position: number): void {
    if (position <= this.row.acked) return;
    this.row = { ...this.row, acked: position };
    let whole = 0;
    while (whole < this.rows.length && (this.rows[whole]?.end ?? 0) <= position) whole += 1;
    const gone = this.rows.splice(0, whole);
    const tx = this.db.transaction([CONVERSATIONS, AUDIO], "readwrite");
    tx.objectStore(CONVERSATIONS).put(this.row);
    const last = gone.at(-1);
    if (last) tx.objectStore(AUDIO).delete(audioRange(this.row.key, Number.NEGATIVE_INFINITY, last.start + 0.5));
    void this.track(committed(tx)).catch(() => undefined); // a failed trim leaves acked audio, which resume skips
  }

  setConversation(conversationId: string, resumeToken: string): void {
    this.row = { ...this.row, meta: { ...this.row.meta, conversationId, resumeToken } };
    this.putRow();
  }

  setMessages(messages: readonly string[]): void {
    this.row = { ...this.row, messages: [...messages] };
    this.putRow();
  }

  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    const tx = this.db.transaction([CONVERSATIONS, AUDIO], "readwrite");
    tx.objectStore(CONVERSATIONS).delete(this.row.key);
    tx.objectStore(AUDIO).delete(audioRange(this.row.key));
    await this.track(committed(tx));
  }

  flush(): Promise<void> {
    return this.last.catch(() => undefined);
  }

  private putRow(): void {
    if (this.removed) return;
    const tx = this.db.transaction(CONVERSATIONS, "readwrite");
    tx.objectStore(CONVERSATIONS).put(this.row);
    void this.track(committed(tx)).catch(() => undefined);
  }

  private track(done: Promise<void>): Promise<void> {
    this.last = done.catch(() => undefined);
    return done;
  }
}

class IndexedDbStorage implements ConversationStorage {
  readonly capacityBytes: number | undefined;
  private opened: Promise<IDBDatabase> | undefined;

  constructor(private readonly options: IndexedDbStoreOptions) {
    this.capacityBytes = options.maxBytes;
  }

  private db(): Promise<IDBDatabase> {
    this.opened ??= new Promise((resolve, reject) => {
      const factory = this.options.indexedDB ?? indexedDB;
      const open = factory.open(this.options.database ?? "tether-sdk", 1);
      open.onupgradeneeded = () => {
        open.result.createObjectStore(CONVERSATIONS, { keyPath: "key" });
        open.result.createObjectStore(AUDIO);
      };
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error ?? new Error("cannot open IndexedDB"));
    });
    return this.opened;
  }

  async create(meta: StoredMeta): Promise<ConversationLog> {
    const db = await this.db();
    const random = globalThis.crypto?.randomUUID?.() ?? Math.random().toString(36).slice(2);
    const row: ConversationRow = { key: `${Date.now().toString(36)}-${random}`, meta, acked: 0, messages: [] };
    const tx = db.transaction(CONVERSATIONS, "readwrite");
    tx.objectStore(CONVERSATIONS).put(row);
    await committed(tx);
    return new IndexedDbLog(db, row, []);
  }

  async list(): Promise<StoredConversation[]> {
    const db = await this.db();
    const tx = db.transaction([CONVERSATIONS, AUDIO], "readonly");
    const rows = (await request(tx.objectStore(CONVERSATIONS).getAll())) as ConversationRow[];
    rows.sort((a, b) => (a.key < b.key ? -1 : 1));
    // Every request issued at once, while the transaction is active.
    const audios = (await Promise.all(
      rows.map((row) => request(tx.objectStore(AUDIO).getAll(audioRange(row.key)))),
    )) as AudioRow[][];
    const found: StoredConversation[] = [];
    for (const [i, row] of rows.entries()) {
      const audio = audios[i] ?? [];
      const unit = row.meta.codec === "pcm16" ? (d: Uint8Array) => d.length : () => 1;
      const live: StoredAudio[] = audio
        .map((a) => ({ start: a.start, data: new Uint8Array(a.data) }))
        .filter((a) => a.start + unit(a.data) > row.acked);
      found.push({ key: row.key, meta: row.meta, acked: row.acked, audio: live, messages: row.messages });
    }
    return found;
  }

  async reopen(conversation: StoredConversation): Promise<ConversationLog> {
    const db = await this.db();
    const unit = conversation.meta.codec === "pcm16" ? (d: Uint8Array) => d.length : () => 1;
    return new IndexedDbLog(
      db,
      {
        key: conversation.key,
        meta: conversation.meta,
        acked: conversation.acked,
        messages: [...conversation.messages],
      },
      conversation.audio.map((a) => ({ start: a.start, end: a.start + unit(a.data) })),
    );
  }
}

/** A store in the page's IndexedDB (one database, many conversations). */
export function indexedDbStore(options: IndexedDbStoreOptions = {}): ConversationStorage {
  return new IndexedDbStorage(options);
}
