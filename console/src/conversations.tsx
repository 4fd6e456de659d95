/** The caller's conversations in this environment, newest first (`GET /v1/conversations`). */
import { useEffect, useState } from "preact/hooks";
import type { ApiClient, ConversationList } from "./api";

export function ConversationsPage(props: {
  api: ApiClient;
  hrefFor: (id: string) => string;
  onOpen: (id: string) => void;
  onError: (error: unknown) => void;
}) {
  const [items, setItems] = useState<ConversationList["conversations"]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [failed, setFailed] = useState(false);

  const load = async (from: string | null) => {
    try {
      const page = await props.api.list(from);
      setItems((old) => (from ? [...old, ...page.conversations] : page.conversations));
      setCursor(page.next_cursor);
      setLoaded(true);
    } catch (error) {
      setFailed(true);
      props.onError(error);
    }
  };
  useEffect(() => {
    setItems([]);
    setLoaded(false);
    setFailed(false);
    void load(null);
  }, [props.api]);

  return (
    <section>
      <h2>Conversations</h2>
      <ul class="conversation-list" data-testid="conversation-list" data-loaded={loaded ? "true" : "false"}>
        {items.map((c) => (
          <li key={c.id} data-testid="conversation-item">
            <a
              href={props.hrefFor(c.id)}
              onClick={(e) => {
                e.preventDefault();
                props.onOpen(c.id);
              }}
            >
              {c.id}
            </a>
            <span class={`status status-${c.status}`}>{c.status}</span>
            <span class="muted">
              {c.started_at ? new Date(c.started_at).toLocaleString() : "not started"} ·{" "}
              {(c.duration_ms / 1000).toFixed(1)} s
            </span>
          </li>
        ))}
      </ul>
      {!loaded && !failed ? <p class="muted">Loading conversations…</p> : null}
      {loaded && items.length === 0 ? (
        <p class="muted" data-testid="conversations-empty">
          No conversations in this environment yet: record one on the Record page, or run npm run stream -- --generate
          10.
        </p>
      ) : null}
      {cursor ? (
        <button type="button" onClick={() => void load(cursor)}>
          Load more
        </button>
      ) : null}
    </section>
  );
}
