/**
 * The answer of the local console server's `GET /local/overview?env=`: what runs in one
 * environment of the local stack now. Types only, shared by the server (console-server.ts)
 * and the overview page (console/src/overview.tsx), so the browser build imports nothing.
 */

/** One ingress process and its live sockets (its `/healthz`). */
export interface IngressView {
  /** The process id, when the ingress runs as instance processes; null when it runs inside the stack. */
  pid: number | null;
  url: string;
  /** `ok`, `draining`, or why it did not answer. */
  status: string;
  /** Open sockets; null when it did not answer. */
  sockets: number | null;
}

/** One subscription and what waits in it. */
export interface SubscriptionView {
  /** The subscription's key in shared/pipeline.ts, and its name in this environment. */
  key: string;
  name: string;
  /** Push subscriptions: the worker it feeds. Pull subscriptions: null. */
  worker: string | null;
  /**
   * Push: deliveries in the worker now (the emulator pushes at most 2 at a time, and the
   * messages behind them are not visible to it); pull: messages waiting (counted up to 100).
   */
  waiting: number | null;
  /** Push: how long the oldest delivery in the worker has run, ms. */
  oldest_ms: number | null;
  /** Push: deliveries answered since the stack started, by status; `5xx` and `cut` are delivered again. */
  outcomes: Record<string, number> | null;
  /** Why the numbers are missing, if they are. */
  problem: string | null;
}

export interface OverviewAnswer {
  environment: string;
  ingress: IngressView[];
  subscriptions: SubscriptionView[];
}
