/**
 * Lifecycle notifications (local stack only): what an app backend subscribed to the
 * environment's notifications topic would have received, read from the stack's
 * `notificationsRecent` subscription through the console server.
 */
import { useEffect, useState } from "preact/hooks";
import type { NotificationsAnswer, NotificationView } from "../../local/console-notifications";

export function Notifications(props: { env: string; conversationId?: string; testId: string }) {
  const [value, setValue] = useState<NotificationView[] | string | undefined>();
  useEffect(() => {
    const query = `env=${encodeURIComponent(props.env)}${
      props.conversationId ? `&conversation=${encodeURIComponent(props.conversationId)}` : ""
    }`;
    fetch(`./local/notifications?${query}`)
      .then(async (r) => (r.ok ? ((await r.json()) as NotificationsAnswer).notifications : `HTTP ${r.status}`))
      .catch((e: unknown) => `cannot read: ${String(e)}`)
      .then(setValue);
  }, [props.env, props.conversationId]);
  return (
    <div data-testid={props.testId}>
      {value === undefined ? <p class="muted">reading…</p> : null}
      {typeof value === "string" ? <p class="problem">{value}</p> : null}
      {Array.isArray(value) && value.length === 0 ? <p class="muted">none</p> : null}
      {Array.isArray(value) && value.length > 0 ? (
        <table class="stats">
          <thead>
            <tr>
              <th>when</th>
              <th>type</th>
              <th>conversation</th>
              <th>event id</th>
            </tr>
          </thead>
          <tbody>
            {value.map((n) => (
              <tr key={n.message_id}>
                <td>{n.time}</td>
                <td>{n.type}</td>
                <td>{n.subject}</td>
                <td>{n.id}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
