/**
 * The console's view of one environment: its config entry, and the HTTP API (PROTOCOL.md
 * section 3) with responses validated at the edge (zod/mini keeps the bundle small).
 * Statuses are kept as strings: the console shows whatever the API says.
 */
import * as z from "zod/mini";

export const configSchema = z.object({
  mode: z.optional(z.enum(["local", "production"])),
  envs: z.array(z.object({ name: z.string(), ingress_url: z.string(), api_url: z.string() })),
});
export type ConsoleConfig = z.infer<typeof configSchema>;
export type EnvConfig = ConsoleConfig["envs"][number];

const listSchema = z.object({
  conversations: z.array(
    z.object({ id: z.string(), status: z.string(), started_at: z.nullable(z.string()), duration_ms: z.number() }),
  ),
  next_cursor: z.nullable(z.string()),
});
export type ConversationList = z.infer<typeof listSchema>;

const conversationSchema = z.object({
  id: z.string(),
  environment: z.string(),
  status: z.string(),
  codec: z.string(),
  sample_rate: z.number(),
  position: z.number(),
  duration_ms: z.number(),
  sessions: z.array(
    z.object({ session_id: z.string(), started_at: z.nullable(z.string()), ended_at: z.nullable(z.string()) }),
  ),
  segments: z.number(),
  extraction: z.object({
    status: z.string(),
    people: z.array(
      z.object({ person_id: z.string(), status: z.string(), reason: z.optional(z.string()), samples: z.number() }),
    ),
  }),
});
export type Conversation = z.infer<typeof conversationSchema>;

const segmentsSchema = z.object({
  segments: z.array(
    z.object({
      id: z.string(),
      start: z.number(),
      end: z.number(),
      text: z.string(),
      speaker: z.nullable(z.string()),
      is_user: z.boolean(),
      person_id: z.nullable(z.string()),
      session_id: z.optional(z.string()),
    }),
  ),
});
export type Segment = z.infer<typeof segmentsSchema>["segments"][number];

const personSchema = z.object({
  id: z.string(),
  samples: z.array(
    z.object({
      uri: z.string(),
      conversation_id: z.string(),
      segment_ids: z.array(z.string()),
      duration_ms: z.number(),
    }),
  ),
});
export type Person = z.infer<typeof personSchema>;

const historySchema = z.object({
  conversation_id: z.string(),
  environment: z.string(),
  status: z.string(),
  published_s: z.number(),
  stored_s: z.number(),
  duration_s: z.number(),
  sockets: z.array(
    z.object({
      session_id: z.string(),
      from_s: z.number(),
      to_s: z.number(),
      bytes: z.number(),
      chunks: z.number(),
      started_at: z.nullable(z.string()),
      closed_as: z.nullable(z.string()),
      goaway: z.nullable(z.string()),
      events_applied: z.number(),
      events_rejected: z.number(),
    }),
  ),
  events: z.array(
    z.object({
      kind: z.string(),
      at_s: z.number(),
      to_s: z.optional(z.number()),
      time: z.nullable(z.string()),
      session_id: z.optional(z.string()),
      text: z.string(),
    }),
  ),
  truncated: z.array(z.string()),
});
export type History = z.infer<typeof historySchema>;

const healthSchema = z.object({ environment: z.string() });
const errorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** An API answer that is not a success, with the API's own sentence when it sent one. */
export class ApiFailure extends Error {
  override name = "ApiFailure";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function getJson<T>(url: string, token: string | undefined, schema: z.ZodMiniType<T>): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch {
    throw new ApiFailure(0, "unreachable", `the API at ${new URL(url).origin} cannot be reached`);
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const error = errorSchema.safeParse(body);
    throw new ApiFailure(
      response.status,
      error.success ? error.data.error.code : "http_error",
      error.success ? error.data.error.message : `HTTP ${response.status}`,
    );
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new ApiFailure(response.status, "bad_response", "the API answered in an unexpected shape");
  return parsed.data;
}

export function apiClient(env: EnvConfig, token: string | undefined) {
  const base = env.api_url.replace(/\/$/, "");
  return {
    /** The environment the API says it serves (the banner shows this, never the config's name). */
    environment: async () => (await getJson(`${base}/healthz`, undefined, healthSchema)).environment,
    list: (cursor: string | null, limit = 20) =>
      getJson(
        `${base}/v1/conversations?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        token,
        listSchema,
      ),
    conversation: (id: string) =>
      getJson(`${base}/v1/conversations/${encodeURIComponent(id)}`, token, conversationSchema),
    segments: async (id: string) =>
      (await getJson(`${base}/v1/conversations/${encodeURIComponent(id)}/segments`, token, segmentsSchema)).segments,
    history: (id: string) =>
      getJson(`${base}/v1/conversations/${encodeURIComponent(id)}/history`, token, historySchema),
    person: (id: string) => getJson(`${base}/v1/people/${encodeURIComponent(id)}`, token, personSchema),
    /** `DELETE /v1/conversations/{id}`: 202 once the deletion is durable; the data goes within seconds. */
    deleteConversation: async (id: string): Promise<void> => {
      const response = await fetch(`${base}/v1/conversations/${encodeURIComponent(id)}`, {
        method: "DELETE",
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
      if (response.status !== 202)
        throw new ApiFailure(response.status, "http_error", `DELETE answered HTTP ${response.status}`);
    },
    audioBytes: async (id: string): Promise<Uint8Array<ArrayBuffer>> => {
      const response = await fetch(`${base}/v1/conversations/${encodeURIComponent(id)}/audio.wav`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
      if (!response.ok)
        throw new ApiFailure(response.status, "http_error", `audio.wav answered HTTP ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    },
  };
}
export type ApiClient = ReturnType<typeof apiClient>;

/** SHA-256 of bytes, hex: how the page shows what it sent and what it got back. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
