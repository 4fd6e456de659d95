/**
 * Evaluates the subset of the Cloud Logging / Cloud Monitoring filter language that
 * infra/monitoring.ts, alerts.ts and dashboard.ts write, against a log entry or a time
 * series, so tests can show that a metric's filter matches the lines the code really
 * writes (and no other environment's).
 *
 * The subset: terms joined by AND; each term is `path:*`, `path="v"`, `path!="v"`,
 * `path=("a" OR "b")`, `path>=N`, or `NOT` before one of them. Anything else throws, so a
 * filter the evaluator does not understand fails the test instead of passing it.
 */

export type Document = Readonly<Record<string, unknown>>;

function lookup(document: Document, path: string): unknown {
  let value: unknown = document;
  for (const part of path.split(".")) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

const TERM =
  /^(?<not>NOT )?(?<path>[A-Za-z_][A-Za-z0-9_.]*)(?:(?<present>:\*)|(?<op>!=|>=|=)(?<value>"(?:[^"\\]|\\.)*"|\((?:"(?:[^"\\]|\\.)*"(?: OR )?)+\)|-?[0-9.]+))$/;

function termMatches(document: Document, term: string): boolean {
  const match = TERM.exec(term.trim());
  if (match?.groups === undefined) throw new Error(`log-query: cannot evaluate the term ${JSON.stringify(term)}`);
  const { not, path, present, op, value } = match.groups;
  const actual = lookup(document, path as string);
  let result: boolean;
  if (present !== undefined) {
    result = actual !== undefined && actual !== null;
  } else if (op === ">=") {
    result = typeof actual === "number" && actual >= Number(value);
  } else {
    const raw = value as string;
    const wanted: string[] = raw.startsWith("(")
      ? [...raw.matchAll(/"(?:[^"\\]|\\.)*"/g)].map((m) => JSON.parse(m[0]) as string)
      : [JSON.parse(raw) as string];
    const equal = actual !== undefined && actual !== null && wanted.includes(String(actual));
    result = op === "!=" ? !equal : equal;
  }
  return not === undefined ? result : !result;
}

/** Whether every AND-ed term of `filter` holds for `document`. */
export function matchesFilter(filter: string, document: Document): boolean {
  return filter
    .split(/\s+AND\s+/)
    .filter((term) => term.trim() !== "")
    .every((term) => termMatches(document, term));
}

/** The value of an `EXTRACT(path)` label extractor for `document`. */
export function extract(extractor: string, document: Document): string | undefined {
  const match = /^EXTRACT\(([A-Za-z0-9_.]+)\)$/.exec(extractor);
  if (match === null) throw new Error(`log-query: cannot evaluate the extractor ${extractor}`);
  const value = lookup(document, match[1] as string);
  return value === undefined || value === null ? undefined : String(value);
}
