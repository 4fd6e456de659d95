/**
 * Reading the local console server's operator endpoints (`/local/...`, local build only):
 * one hook that fetches (and, if asked, refreshes) an answer, and one frame that shows
 * "reading…", the problem, "none", or the rows. Every operator table goes through these.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";

/** The answer's list, a sentence saying why there is none, or undefined while reading. */
export function useLocalList<T>(
  path: string,
  pick: (body: unknown) => T[],
  refreshMs?: number,
): T[] | string | undefined {
  const [value, setValue] = useState<T[] | string | undefined>();
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = () => {
      fetch(path)
        .then(async (r) => (r.ok ? pick(await r.json()) : `the console server answered HTTP ${r.status}`))
        .catch((e: unknown) => `cannot read ${path}: ${String(e)}; is npm start still running?`)
        .then((v) => {
          if (stopped) return;
          setValue(v);
          if (refreshMs !== undefined) timer = setTimeout(load, refreshMs);
        });
    };
    setValue(undefined);
    load();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [path]);
  return value;
}

/** A table of `value`'s rows, or what stands in for it. */
export function LocalTable<T>(props: {
  value: T[] | string | undefined;
  testId: string;
  empty: string;
  head: string[];
  row: (item: T) => ComponentChildren;
}) {
  const { value } = props;
  return (
    <div data-testid={props.testId} data-loaded={value === undefined ? "false" : "true"}>
      {value === undefined ? <p class="muted">reading…</p> : null}
      {typeof value === "string" ? <p class="problem">{value}</p> : null}
      {Array.isArray(value) && value.length === 0 ? <p class="muted">{props.empty}</p> : null}
      {Array.isArray(value) && value.length > 0 ? (
        <table class="stats">
          <thead>
            <tr>
              {props.head.map((h) => (
                <th key={h}>{h}</th>
              ))}
            </tr>
          </thead>
          <tbody>{value.map(props.row)}</tbody>
        </table>
      ) : null}
    </div>
  );
}
