/**
 * Which embedder a deployment uses: the hosted service when `TETHER_EMBEDDING_URL` is set
 * (validated as a URL by shared/config.ts), otherwise the built-in DSP embedding.
 */
import type { Settings } from "../../shared/config";
import type { ExtractionSettings } from "../../shared/extraction-settings";
import { createDspEmbedder } from "./dsp-embedding";
import type { SpeakerEmbedder } from "./embedding";
import { createHttpEmbedder } from "./http-embedding";

export function embedderFor(settings: Pick<Settings, "embeddingUrl">, extraction: ExtractionSettings): SpeakerEmbedder {
  return settings.embeddingUrl !== undefined
    ? createHttpEmbedder({ url: settings.embeddingUrl, timeoutMs: extraction.embeddingTimeoutMs })
    : createDspEmbedder();
}
