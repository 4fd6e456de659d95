/**
 * The answer of the local console server's `GET /local/notifications?env=&conversation=`:
 * the recent lifecycle notifications of one environment (optionally of one conversation),
 * read from its `notificationsRecent` subscription without acknowledging them. Types only,
 * shared by the server (console-server.ts) and the pages (console/src).
 */
export interface NotificationView {
  message_id: string;
  /** The CloudEvent id: the same on every publish of one lifecycle step. */
  id: string;
  type: string;
  subject: string;
  time: string;
}

export interface NotificationsAnswer {
  environment: string;
  notifications: NotificationView[];
}
