/** The chunk length a bench runs the stack with: TETHER_CHUNK_SECONDS (whole seconds), else the deployed default. */
import { z } from "zod";
import { DEFAULT_CHUNK_SECONDS } from "../shared/config";

export const CHUNK_SECONDS = z.coerce
  .number()
  .int()
  .min(1)
  .max(60)
  .default(DEFAULT_CHUNK_SECONDS)
  .parse(process.env.TETHER_CHUNK_SECONDS);
