/**
 * The command line of the project's scripts (`npm run chaos`, `npm run smoke`): every
 * `--name value` the script's zod schema names, validated at the edge, so a script reads
 * typed options and never the raw argv. `--help` prints the script's usage and exits.
 */
import { parseArgs } from "node:util";
import type { z } from "zod";

/** A command line the script cannot run with; the message names the option and why. */
export class UsageError extends Error {}

/** Parses `argv` against `schema` (one string option per key, plus `--help`). */
export function parseCliOptions<Schema extends z.ZodObject>(
  argv: readonly string[],
  schema: Schema,
  usage: string,
): z.output<Schema> {
  const parsed = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      ...Object.fromEntries(Object.keys(schema.shape).map((name) => [name, { type: "string" as const }])),
      help: { type: "boolean" },
    },
  });
  if (parsed.values.help === true) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const { help: _help, ...values } = parsed.values;
  const result = schema.safeParse(values);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new UsageError(`--${String(issue?.path[0] ?? "?")} ${issue?.message ?? "is invalid"}`);
  }
  return result.data;
}
