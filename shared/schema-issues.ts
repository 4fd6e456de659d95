/**
 * How a schema error reads wherever one is reported: an HTTP error, a close reason, a
 * dead-letter detail, a start-up failure. One wording for every zod error in the tree.
 */
import type { z } from "zod";

/**
 * The first issue as `path message`, e.g. `sample_rate Invalid input`; `whole` names the
 * value when the issue is about all of it (an empty path).
 */
export function describeIssue(error: z.ZodError, whole = ""): string {
  const issue = error.issues[0];
  return `${issue?.path.join(".") || whole} ${issue?.message ?? "is invalid"}`.trim();
}

/** Up to five issues as `path: message; path: message`, for a rejection detail. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join(".") || "(message)"}: ${issue.message}`)
    .join("; ");
}
