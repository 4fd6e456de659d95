/**
 * The SDK's file-backed store for Node: one append-only log per conversation in a
 * directory, so a killed process loses none of the audio it accepted. Each `write` is in
 * the log (the OS holds it: it survives the process) before the session sends it; the log
 * is fsync'd at a configurable cadence (that bounds what a power cut can take), and
 * rewritten without acknowledged audio once that is most of the file.
 *
 *   const storage = fileStore(".tether/sdk-store");
 *   const session = await connect({ url, token, storage });
 *   ... the process dies ...
 *   for (const r of await resumeStored(storage, { token })) ...
 *
 * Log records: kind (1 byte), payload length (u32 LE), payload. A record cut short by a
 * kill is ignored, and cut off before the log is written again.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { codecSchema, sampleRateSchema } from "../../shared/audio-format";
import type { ConversationLog, ConversationStorage, StoredAudio, StoredConversation, StoredMeta } from "../store";

export interface FileStoreOptions {
  /** fsync the log at most this often (ms); 0 = after every record. Default 100. */
  readonly fsyncEveryMs?: number;
  /** Cap on unacknowledged audio per conversation (bytes); `write` waits at it. Default: the session's replayBufferBytes. */
  readonly maxBytes?: number;
}

const SUFFIX = ".tlog";
/**
 * A log holds the conversation's resume token (and its audio): only its owner may read
 * it. Directories the store creates are the owner's alone too.
 */
const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;
const HEADER = 5;
enum Kind {
  Meta = 1,
  Audio = 2,
  Ack = 3,
  Conversation = 4,
  Messages = 5,
}

const metaSchema = z.object({
  url: z.string(),
  codec: codecSchema,
  sampleRate: sampleRateSchema,
  conversationId: z.string().optional(),
  resumeToken: z.string().optional(),
});
const conversationSchema = z.object({ conversationId: z.string(), resumeToken: z.string() });
const messagesSchema = z.array(z.string());

function record(kind: Kind, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt8(kind, 0);
  out.writeUInt32LE(payload.length, 1);
  out.set(payload, HEADER);
  return out;
}

function positionRecord(kind: Kind.Ack, position: number): Buffer {
  const payload = Buffer.allocUnsafe(8);
  payload.writeDoubleLE(position, 0);
  return record(kind, payload);
}

function audioRecord(start: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER + 8 + data.length);
  out.writeUInt8(Kind.Audio, 0);
  out.writeUInt32LE(8 + data.length, 1);
  out.writeDoubleLE(start, HEADER);
  out.set(data, HEADER + 8);
  return out;
}

function jsonRecord(kind: Kind, value: unknown): Buffer {
  return record(kind, Buffer.from(JSON.stringify(value)));
}

interface Parsed {
  conversation: StoredConversation;
  /** Bytes of the log that hold whole records. */
  validBytes: number;
}

/** Reads a log; undefined when it has no readable meta record (a file cut before its first record). */
export function parseLog(key: string, bytes: Buffer): Parsed | undefined {
  let meta: StoredMeta | undefined;
  let acked = 0;
  let audio: StoredAudio[] = [];
  let messages: string[] = [];
  let offset = 0;
  while (offset + HEADER <= bytes.length) {
    const kind = bytes.readUInt8(offset);
    const length = bytes.readUInt32LE(offset + 1);
    if (offset + HEADER + length > bytes.length) break; // cut short by a kill
    const payload = bytes.subarray(offset + HEADER, offset + HEADER + length);
    switch (kind) {
      case Kind.Meta: {
        const m = metaSchema.parse(JSON.parse(payload.toString("utf8")));
        meta = { ...m, conversationId: m.conversationId, resumeToken: m.resumeToken };
        break;
      }
      case Kind.Audio:
        audio.push({ start: payload.readDoubleLE(0), data: payload.subarray(8) });
        break;
      case Kind.Ack:
        acked = Math.max(acked, payload.readDoubleLE(0));
        break;
      case Kind.Conversation:
        if (meta) meta = { ...meta, ...conversationSchema.parse(JSON.parse(payload.toString("utf8"))) };
        break;
      case Kind.Messages:
        messages = messagesSchema.parse(JSON.parse(payload.toString("utf8")));
        break;
      default:
        throw new Error(`${key}: unknown log record kind ${kind} at byte ${offset}`);
    }
    offset += HEADER + length;
  }
  if (meta === undefined) return undefined;
  const unit = meta.codec === "pcm16" ? (d: Uint8Array) => d.length : () => 1;
  audio = audio.filter((a) => a.start + unit(a.data) > acked);
  return { conversation: { key, meta, acked, audio, messages }, validBytes: offset };
}

class FileLog implements ConversationLog {
  private fd: number;
  private fileBytes: number;
  private liveBytes = 0;
  private live: StoredAudio[] = [];
  private acked = 0;
  private meta: StoredMeta;
  private messages: readonly string[] = [];
  private syncTimer: ReturnType<typeof setTimeout> | undefined;
  private removed = false;

  constructor(
    readonly key: string,
    private readonly file: string,
    private readonly fsyncEveryMs: number,
    start: { meta: StoredMeta; fd: number; fileBytes: number; conversation?: StoredConversation },
  ) {
    this.fd = start.fd;
    this.fileBytes = start.fileBytes;
    this.meta = start.meta;
    if (start.conversation) {
      this.acked = start.conversation.acked;
      this.live = [...start.conversation.audio];
      this.liveBytes = this.live.reduce((n, a) => n + a.data.length, 0);
      this.messages = start.conversation.messages;
    }
  }

  appendAudio(start: number, data: Uint8Array): void {
    this.append(audioRecord(start, data));
    this.live.push({ start, data });
    this.liveBytes += data.length;
  }

  acknowledge(position: number): void {
    if (position <= this.acked) return;
    this.acked = position;
    const unit = this.meta.codec === "pcm16" ? (d: Uint8Array) => d.length : () => 1;
    while (this.live.length > 0) {
      const first = this.live[0];
      if (first === undefined || first.start + unit(first.data) > position) break;
      this.live.shift();
      this.liveBytes -= first.data.length;
    }
    this.append(positionRecord(Kind.Ack, position));
    // Trim: rewrite the log once acknowledged audio is most of it.
    if (this.fileBytes > 1024 * 1024 && this.fileBytes > 4 * (this.liveBytes + 64 * 1024)) this.compact();
  }

  setConversation(conversationId: string, resumeToken: string): void {
    this.meta = { ...this.meta, conversationId, resumeToken };
    this.append(jsonRecord(Kind.Conversation, { conversationId, resumeToken }));
  }

  setMessages(messages: readonly string[]): void {
    this.messages = messages;
    this.append(jsonRecord(Kind.Messages, messages));
  }

  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    this.clearTimer();
    fs.closeSync(this.fd);
    await fs.promises.rm(this.file, { force: true });
  }

  async flush(): Promise<void> {
    if (this.removed) return;
    this.clearTimer();
    fs.fsyncSync(this.fd);
  }

  private append(bytes: Buffer): void {
    if (this.removed) return;
    fs.writeSync(this.fd, bytes);
    this.fileBytes += bytes.length;
    if (this.fsyncEveryMs === 0) fs.fsyncSync(this.fd);
    else if (this.syncTimer === undefined) {
      this.syncTimer = setTimeout(() => {
        this.syncTimer = undefined;
        if (!this.removed) fs.fsync(this.fd, () => undefined);
      }, this.fsyncEveryMs);
      this.syncTimer.unref();
    }
  }

  private clearTimer(): void {
    if (this.syncTimer !== undefined) clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
  }

  /** Writes the live state to a new log, fsyncs it, and renames it over the old one. */
  private compact(): void {
    const next = `${this.file}.next`;
    const parts = [
      jsonRecord(Kind.Meta, this.meta),
      jsonRecord(Kind.Messages, this.messages),
      positionRecord(Kind.Ack, this.acked),
      ...this.live.map((a) => audioRecord(a.start, a.data)),
    ];
    const bytes = Buffer.concat(parts);
    const fd = fs.openSync(next, "w", FILE_MODE);
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(next, this.file);
    fs.closeSync(this.fd);
    this.fd = fs.openSync(this.file, "a", FILE_MODE);
    this.fileBytes = bytes.length;
  }
}

class FileStorage implements ConversationStorage {
  readonly capacityBytes: number | undefined;
  private readonly fsyncEveryMs: number;

  constructor(
    readonly directory: string,
    options: FileStoreOptions,
  ) {
    this.capacityBytes = options.maxBytes;
    this.fsyncEveryMs = options.fsyncEveryMs ?? 100;
    if (this.capacityBytes !== undefined && !(this.capacityBytes > 0))
      throw new RangeError("the file store's maxBytes must be positive");
  }

  async create(meta: StoredMeta): Promise<ConversationLog> {
    await fs.promises.mkdir(this.directory, { recursive: true, mode: DIRECTORY_MODE });
    const key = `${Date.now().toString(36).padStart(9, "0")}-${randomUUID()}`;
    const file = path.join(this.directory, `${key}${SUFFIX}`);
    const fd = fs.openSync(file, "a", FILE_MODE);
    const first = jsonRecord(Kind.Meta, meta);
    fs.writeSync(fd, first);
    fs.fsyncSync(fd);
    return new FileLog(key, file, this.fsyncEveryMs, { meta, fd, fileBytes: first.length });
  }

  async list(): Promise<StoredConversation[]> {
    const names = await fs.promises.readdir(this.directory).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return [] as string[];
      throw error;
    });
    const found: StoredConversation[] = [];
    for (const name of names.filter((n) => n.endsWith(SUFFIX)).sort()) {
      const key = name.slice(0, -SUFFIX.length);
      const parsed = parseLog(key, await fs.promises.readFile(path.join(this.directory, name)));
      if (parsed) found.push(parsed.conversation);
    }
    return found;
  }

  async reopen(conversation: StoredConversation): Promise<ConversationLog> {
    const file = path.join(this.directory, `${conversation.key}${SUFFIX}`);
    const parsed = parseLog(conversation.key, await fs.promises.readFile(file));
    if (parsed === undefined) throw new Error(`the store has no readable record ${conversation.key}`);
    await fs.promises.truncate(file, parsed.validBytes); // drop a record a kill cut short
    const fd = fs.openSync(file, "a", FILE_MODE);
    return new FileLog(conversation.key, file, this.fsyncEveryMs, {
      meta: parsed.conversation.meta,
      fd,
      fileBytes: parsed.validBytes,
      conversation: parsed.conversation,
    });
  }
}

/** A store in `directory` (created when first written). */
export function fileStore(directory: string, options: FileStoreOptions = {}): ConversationStorage {
  return new FileStorage(directory, options);
}
