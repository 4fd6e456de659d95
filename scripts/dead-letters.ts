/**
 * `npm run dead-letters`: an operator's view of one environment's dead letters, against
 * the local stack (its state file names the emulator and the project) or a real project.
 * The work is in scripts/dead-letter-store.ts.
 *
 *   npm run dead-letters -- list --env staging                      # local stack, .tether/state.json
 *   npm run dead-letters -- list --env staging --state-file /tmp/tether.json
 *   npm run dead-letters -- list --env prod --project my-prod-project --json
 *   npm run dead-letters -- replay --env staging --id 12 --id 13
 *   npm run dead-letters -- replay --env staging --reason store_refused
 *   npm run dead-letters -- replay --env staging --all
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { PubSub } from "@google-cloud/pubsub";
import { z } from "zod";
import { environmentNameSchema, environmentResources, projectIdSchema } from "../shared/environment";
import {
  countByReason,
  type DeadLetterView,
  formatTable,
  listDeadLetters,
  replayDeadLetters,
} from "./dead-letter-store";

const DEFAULT_STATE_FILE = ".tether/state.json";

const USAGE = `Usage: npm run dead-letters -- list|replay --env NAME [options]

Lists or replays the dead letters of one environment: messages a worker refused for good
(wrong environment, bad schema, conflicting data, ...), kept in the environment's
dead-letter store until an operator deals with them.

  list                   a table: id, when, reason, conversation, topic, rejected by, detail
  replay                 republish the chosen dead letters' original data and attributes
                         (without the rejection_* annotations) to the topic they came from,
                         and remove them from the store

Where:
  --env NAME             the environment (required)
  --state-file PATH      the local stack's state file (default: ${DEFAULT_STATE_FILE});
                         its emulator and project id are used
  --project ID           a real Google Cloud project instead (Application Default Credentials)

Which (replay needs at least one; several narrow the choice):
  --id ID                a dead letter's id, as \`list\` shows it (repeatable)
  --reason REASON        every dead letter with this rejection reason
  --conversation ID      every dead letter of this conversation
  --all                  every dead letter

Output:
  --json                 print JSON instead of a table
  --help`;

class UsageError extends Error {}

const optionsSchema = z.object({
  command: z.enum(["list", "replay"], { message: "the command must be list or replay" }),
  env: environmentNameSchema,
  "state-file": z.string().min(1).optional(),
  project: projectIdSchema.optional(),
  id: z.array(z.string().min(1)).default([]),
  reason: z.string().min(1).optional(),
  conversation: z.string().min(1).optional(),
  all: z.boolean().default(false),
  json: z.boolean().default(false),
});
type Options = z.infer<typeof optionsSchema>;

const stateSchema = z.object({
  envs: z.record(z.string(), z.object({ project_id: z.string().min(1) })),
  emulators: z.object({ pubsub: z.string().min(1) }),
});

export function parseOptions(argv: readonly string[]): Options | "help" {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        env: { type: "string" },
        "state-file": { type: "string" },
        project: { type: "string" },
        id: { type: "string", multiple: true },
        reason: { type: "string" },
        conversation: { type: "string" },
        all: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean" },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.values.help) return "help";
  if (parsed.positionals.length !== 1) throw new UsageError("name one command: list or replay");
  const result = optionsSchema.safeParse({ ...parsed.values, command: parsed.positionals[0] });
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = String(issue?.path[0] ?? "?");
    throw new UsageError(key === "command" ? (issue?.message ?? "bad command") : `--${key} ${issue?.message}`);
  }
  const options = result.data;
  if (options.project !== undefined && options["state-file"] !== undefined) {
    throw new UsageError("give --project or --state-file, not both");
  }
  const narrowed = options.id.length > 0 || options.reason !== undefined || options.conversation !== undefined;
  if (options.command === "replay" && !narrowed && !options.all) {
    throw new UsageError("replay needs --id, --reason, --conversation or --all");
  }
  return options;
}

/** The project to use, and the emulator host when it is the local stack. */
function target(options: Options): { projectId: string; emulator: string | undefined } {
  if (options.project !== undefined) return { projectId: options.project, emulator: undefined };
  const file = options["state-file"] ?? DEFAULT_STATE_FILE;
  let state: z.infer<typeof stateSchema>;
  try {
    state = stateSchema.parse(JSON.parse(fs.readFileSync(file, "utf8")));
  } catch (error) {
    throw new UsageError(
      `cannot read the state file ${path.resolve(file)} (is \`npm start\` running? or pass --project): ${(error as Error).message}`,
    );
  }
  const env = state.envs[options.env];
  if (env === undefined) {
    throw new UsageError(
      `the state file has no environment ${options.env} (it has ${Object.keys(state.envs).join(", ")})`,
    );
  }
  return { projectId: env.project_id, emulator: state.emulators.pubsub };
}

function selector(options: Options): (view: DeadLetterView) => boolean {
  const ids = new Set(options.id);
  return (view) =>
    (ids.size === 0 || ids.has(view.id)) &&
    (options.reason === undefined || view.reason === options.reason) &&
    (options.conversation === undefined || view.conversationId === options.conversation);
}

export async function run(argv: readonly string[], out: (text: string) => void): Promise<number> {
  const options = parseOptions(argv);
  if (options === "help") {
    out(USAGE);
    return 0;
  }
  const { projectId, emulator } = target(options);
  const resources = environmentResources(options.env, projectId);
  const pubsub = new PubSub({
    projectId,
    ...(emulator === undefined ? {} : { apiEndpoint: emulator, emulatorMode: true }),
  });
  try {
    if (options.command === "list") {
      const views = await listDeadLetters(pubsub, resources);
      if (options.json) {
        out(JSON.stringify(views, null, 2));
      } else {
        const counts = Object.entries(countByReason(views))
          .map(([reason, n]) => `${reason} ${n}`)
          .join(", ");
        out(
          `${resources.subscriptions.deadLetter} (${projectId}): ${views.length} dead letter(s)${counts ? `: ${counts}` : ""}`,
        );
        if (views.length > 0) out(formatTable(views));
      }
      return 0;
    }
    const outcomes = await replayDeadLetters(pubsub, resources, selector(options));
    if (options.json) {
      out(JSON.stringify(outcomes, null, 2));
    } else {
      for (const o of outcomes) {
        out(
          o.replayed
            ? `replayed ${o.view.id} (${o.view.reason}, conversation ${o.view.conversationId}) to ${resources.topics[o.view.topic as keyof typeof resources.topics]} as ${o.messageId}`
            : `kept ${o.view.id}: ${o.why}`,
        );
      }
      out(`${outcomes.filter((o) => o.replayed).length} replayed, ${outcomes.filter((o) => !o.replayed).length} kept`);
    }
    return outcomes.every((o) => o.replayed) ? 0 : 1;
  } finally {
    await pubsub.close();
  }
}

if (require.main === module) {
  run(process.argv.slice(2), (text) => process.stdout.write(`${text}\n`)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof UsageError) {
        process.stderr.write(`dead-letters: ${error.message}\n\n${USAGE}\n`);
        process.exit(2);
      }
      process.stderr.write(`dead-letters: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
