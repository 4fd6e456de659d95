/** The states of one ingress socket (socket-session.ts), from the upgrade to the close. */
export type SocketState =
  /** Handshake and conversation open in progress; frames are queued. */
  | "opening"
  | "open"
  /** Finalize accepted; further frames are dropped. */
  | "finalizing"
  /** A newer socket took the conversation; waiting for this one's publishes, then 4001. */
  | "superseded"
  /** Close sent; waiting for the socket to close. */
  | "closing"
  | "closed";
