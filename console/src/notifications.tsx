/**
 * Lifecycle notifications (local stack only): what an app backend subscribed to the
 * environment's notifications topic would have received, read from the stack's
 * `notificationsRecent` subscription through the console server.
 */
import type { NotificationsAnswer, NotificationView } from "../../local/console-notifications";
import { LocalTable, useLocalList } from "./local-data";

export function Notifications(props: { env: string; conversationId?: string; testId: string }) {
  const query = `env=${encodeURIComponent(props.env)}${
    props.conversationId ? `&conversation=${encodeURIComponent(props.conversationId)}` : ""
  }`;
  const value = useLocalList<NotificationView>(
    `./local/notifications?${query}`,
    (body) => (body as NotificationsAnswer).notifications,
  );
  return (
    <LocalTable
      value={value}
      testId={props.testId}
      empty="None in the last day: a conversation notifies when it is finalized, extracted or deleted."
      head={["when", "type", "conversation", "event id"]}
      row={(n) => (
        <tr key={n.message_id}>
          <td>{n.time}</td>
          <td>{n.type}</td>
          <td>{n.subject}</td>
          <td>{n.id}</td>
        </tr>
      )}
    />
  );
}
