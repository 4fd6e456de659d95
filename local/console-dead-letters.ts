/**
 * The answer of the local console server's `GET /local/dead-letters?env=`: one
 * environment's dead letters as the console's overview page shows them. The server
 * (console-server.ts) writes it and the page (console/src/overview.tsx) reads it, so the
 * two share this one declaration; it holds types only, so the browser build imports nothing.
 */

/** One dead letter: its message, and the annotations of the worker that refused it (null when absent). */
export interface DeadLetterView {
  message_id: string;
  publish_time: string | null;
  rejection_reason: string | null;
  rejection_detail: string | null;
  rejected_by: string | null;
  conversation_id: string | null;
  environment: string | null;
  bytes: number;
}

export interface DeadLettersAnswer {
  environment: string;
  dead_letters: DeadLetterView[];
}
