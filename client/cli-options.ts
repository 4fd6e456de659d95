/** `npm run stream`'s options: its usage text, and the command line validated against it. */
import { parseArgs } from "node:util";
import { z } from "zod";
import { CODECS } from "../shared/audio-format";
import { isSampleRate } from "./wav-file";

const USAGE = `Usage: npm run stream -- [FILE.wav] [options]

Streams FILE.wav (16-bit PCM, mono or stereo, 8/16/24/48 kHz), generated speech-like
audio, or the demo, to a tether ingress, and prints the conversation id, environment,
console page and a curl command that downloads the WAV.

Where to stream (one of):
  --state-file PATH       the file \`npm start\` wrote (default: .tether/state.json)
  --env NAME              the environment of the state file to use (default: the only one, else dev, else the first)
  --url URL               an ingress URL (ws://HOST:PORT/v1/listen), with --token or --secret
  --token JWT             an access token
  --secret KEY            mint a token with this HS256 key (local environments)
  --user ID               the user id of a minted token (default: cli-user)
  --api-url URL           the environment's HTTP API, for the playback command

What to stream:
  --demo                  a 25 s conversation of two speakers, with transcript segments and
                          person assignments, so the console's segments and extraction fill up
  --generate SECONDS      generated speech-like audio instead of a file (default: 20 s when no file is given)
  --sample-rate HZ        sample rate of generated audio (default: 16000)
  --codec pcm16|opus      send PCM or Opus packets encoded on the fly (default: pcm16)
  --speed X               1 = real time (default; the demo: 4), 4 = four times faster, 0 = as fast as possible
  --disconnect-every S    drop the connection after every S seconds of audio sent (shows resume)
  --conversation-id ID    use this conversation id
  --store DIR             keep unacknowledged audio in DIR (a file store): if the stream is killed,
                          run the same command again and it resumes where the server stopped
  --help`;

const optionsSchema = z.object({
  file: z.string().optional(),
  "state-file": z.string().optional(),
  env: z.string().optional(),
  url: z.string().optional(),
  token: z.string().optional(),
  secret: z.string().optional(),
  user: z.string().min(1).default("cli-user"),
  "api-url": z.string().optional(),
  generate: z.coerce
    .number()
    .positive()
    .max(24 * 3600)
    .optional(),
  "sample-rate": z.coerce
    .number()
    .refine(isSampleRate, { message: "must be 8000, 16000, 24000 or 48000" })
    .default(16000),
  codec: z.enum(CODECS).default("pcm16"),
  speed: z.coerce.number().min(0).optional(),
  demo: z.boolean().default(false),
  "disconnect-every": z.coerce.number().positive().optional(),
  "conversation-id": z.string().optional(),
  store: z.string().min(1).optional(),
});
export type Options = z.infer<typeof optionsSchema>;

export function fail(message: string): never {
  process.stderr.write(`stream: ${message}\n`);
  process.exit(2);
}

const BOOLEAN_OPTIONS = new Set(["help", "demo"]);

export function parseOptions(argv: string[]): Options {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        [...Object.keys(optionsSchema.shape).filter((k) => k !== "file"), "help"].map((k) => [
          k,
          { type: BOOLEAN_OPTIONS.has(k) ? "boolean" : "string" },
        ]),
      ) as Record<string, { type: "string" | "boolean" }>,
    });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${USAGE}`);
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (parsed.positionals.length > 1) fail(`one file at a time\n\n${USAGE}`);
  const result = optionsSchema.safeParse({ ...parsed.values, file: parsed.positionals[0] });
  if (!result.success) {
    const issue = result.error.issues[0];
    fail(`--${String(issue?.path[0] ?? "?")} ${issue?.message ?? "is invalid"}\n\n${USAGE}`);
  }
  return result.data;
}
