/**
 * Client for a hosted speaker-embedding service, for teams that run a neural model
 * (`TETHER_EMBEDDING_URL`). One request per sample:
 *
 *   POST {TETHER_EMBEDDING_URL}
 *   Content-Type: application/json
 *   {"encoding": "pcm16le", "sample_rate": 16000, "channels": 1, "audio": "<base64 PCM16LE>"}
 *
 *   200 OK
 *   {"model": "wespeaker-resnet34", "dim": 256, "embedding": [0.013, -0.207, ...]}
 *
 * `model` names the network (and version) so that vectors of different models are never
 * mixed; `dim` must equal the length of `embedding`. Any other status, a body that does not
 * match, or no answer within the timeout is an `EmbeddingError`: the worker retries the
 * message and, when retries are exhausted, reports the person as failed.
 */
import { z } from "zod";
import { describeIssue } from "../../shared/schema-issues";
import type { SpeakerEmbedding } from "../person-profile";
import { EmbeddingError, type SpeakerEmbedder } from "./embedding";

export const embeddingResponseSchema = z
  .object({
    model: z.string().min(1).max(200),
    dim: z.number().int().min(1).max(8192),
    embedding: z.array(z.number().finite()).min(1).max(8192),
  })
  .refine((r) => r.embedding.length === r.dim, { message: "dim must equal the length of embedding", path: ["dim"] });

export interface HttpEmbedderOptions {
  readonly url: string;
  /** Per request, including reading the body. */
  readonly timeoutMs: number;
  /** The model name reported before the service first answers. */
  readonly expectedModel?: string;
}

export const HTTP_EMBEDDING_MODEL_UNKNOWN = "http-embedding";

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new EmbeddingError(`embedding service answered ${response.status} with a body that is not JSON`);
  }
}

/** fetch() reports "fetch failed" and keeps the reason (ECONNREFUSED, ...) in `cause`. */
function describeFetchError(error: unknown): string {
  const e = error as { message?: unknown; cause?: { code?: unknown; message?: unknown } } | null;
  const message = typeof e?.message === "string" ? e.message : String(error);
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause === undefined ? message : `${message} (${String(cause)})`;
}

export function createHttpEmbedder(options: HttpEmbedderOptions): SpeakerEmbedder {
  const { url, timeoutMs } = options;
  return {
    model: options.expectedModel ?? HTTP_EMBEDDING_MODEL_UNKNOWN,
    async embed(samples: Int16Array, sampleRate: number): Promise<SpeakerEmbedding> {
      const audio = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength).toString("base64");
      let body: unknown;
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify({ encoding: "pcm16le", sample_rate: sampleRate, channels: 1, audio }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (!response.ok) {
          await response.body?.cancel();
          throw new EmbeddingError(`embedding service at ${url} answered HTTP ${response.status}`);
        }
        body = await readBody(response);
      } catch (error) {
        if (error instanceof EmbeddingError) throw error;
        // Duck-typed: the abort reason is a DOMException, not always an `Error` of this realm.
        const name = typeof error === "object" && error !== null ? (error as { name?: unknown }).name : undefined;
        const timedOut = name === "TimeoutError" || name === "AbortError";
        throw new EmbeddingError(
          timedOut
            ? `embedding service at ${url} did not answer within ${timeoutMs} ms`
            : `embedding service at ${url} is unreachable: ${describeFetchError(error)}`,
        );
      }
      const parsed = embeddingResponseSchema.safeParse(body);
      if (!parsed.success) {
        throw new EmbeddingError(
          `embedding service at ${url} sent an invalid answer: ${describeIssue(parsed.error, "(body)")}`,
        );
      }
      if (options.expectedModel !== undefined && parsed.data.model !== options.expectedModel) {
        throw new EmbeddingError(
          `embedding service at ${url} answered with model ${JSON.stringify(parsed.data.model)}, expected ${JSON.stringify(options.expectedModel)}`,
        );
      }
      return { model: parsed.data.model, dim: parsed.data.dim, vector: parsed.data.embedding };
    },
  };
}
