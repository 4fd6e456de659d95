/**
 * The overview of one environment (local stack only): its ingress processes with their live
 * sockets, each subscription's backlog, the dead letters with why they were refused, and
 * the recent notifications. It refreshes every few seconds.
 */
import type { DeadLettersAnswer, DeadLetterView } from "../../local/console-dead-letters";
import type { IngressView, OverviewAnswer, SubscriptionView } from "../../local/console-overview";
import { LocalTable, useLocalList } from "./local-data";
import { Notifications } from "./notifications";

const REFRESH_MS = 3000;

function outcomes(value: Record<string, number> | null): string {
  if (value === null) return "";
  const entries = Object.entries(value);
  return entries.length === 0 ? "none yet" : entries.map(([status, n]) => `${status}: ${n}`).join(", ");
}

export function OverviewPage(props: { env: string; hrefFor: (id: string) => string }) {
  const env = encodeURIComponent(props.env);
  const answer = useLocalList<OverviewAnswer>(
    `./local/overview?env=${env}`,
    (body) => [body as OverviewAnswer],
    REFRESH_MS,
  );
  const part = <T,>(pick: (a: OverviewAnswer) => T[]): T[] | string | undefined =>
    Array.isArray(answer) ? (answer[0] ? pick(answer[0]) : []) : answer;
  const ingress = part<IngressView>((a) => a.ingress);
  const subscriptions = part<SubscriptionView>((a) => a.subscriptions);
  const letters = useLocalList<DeadLetterView>(
    `./local/dead-letters?env=${env}`,
    (body) => (body as DeadLettersAnswer).dead_letters,
    REFRESH_MS,
  );
  return (
    <section>
      <h2>Overview of {props.env}</h2>
      <h3>Ingress processes</h3>
      <LocalTable
        value={ingress}
        testId="overview-ingress"
        empty="No ingress process runs: start the stack with npm start."
        head={["process", "url", "status", "live sockets"]}
        row={(i) => (
          <tr key={i.url} data-testid="overview-ingress-row">
            <td>{i.pid === null ? "in the stack's process" : `pid ${i.pid}`}</td>
            <td>
              <code>{i.url}</code>
            </td>
            <td>{i.status}</td>
            <td data-testid="overview-sockets">{i.sockets ?? "?"}</td>
          </tr>
        )}
      />
      <h3>Subscriptions</h3>
      <p class="muted">
        Push subscriptions: the deliveries in their worker now (the emulator pushes two at a time) and how the worker
        answered so far (5xx and cut are delivered again). Pull subscriptions: the messages waiting.
      </p>
      <LocalTable
        value={subscriptions}
        testId="overview-subscriptions"
        empty="No subscription found."
        head={["subscription", "feeds", "waiting", "oldest in delivery", "answers so far"]}
        row={(s) => (
          <tr key={s.key} data-testid={`overview-subscription-${s.key}`}>
            <td>
              <code>{s.name}</code>
            </td>
            <td>{s.worker ?? "an operator (pull)"}</td>
            <td data-testid="overview-waiting">{s.problem ?? s.waiting ?? "?"}</td>
            <td>{s.oldest_ms ? `${(s.oldest_ms / 1000).toFixed(1)} s` : ""}</td>
            <td>{outcomes(s.outcomes)}</td>
          </tr>
        )}
      />
      <h3>Dead letters</h3>
      <LocalTable
        value={letters}
        testId={`dead-letters-${props.env}`}
        empty="None: every message was processed. A refused one shows here with why (replay with npm run dead-letters)."
        head={["when", "reason", "detail", "rejected by", "conversation"]}
        row={(d) => (
          <tr key={d.message_id}>
            <td>{d.publish_time ?? "?"}</td>
            <td>{d.rejection_reason ?? "?"}</td>
            <td>{d.rejection_detail ?? ""}</td>
            <td>{d.rejected_by ?? "?"}</td>
            <td>{d.conversation_id ? <a href={props.hrefFor(d.conversation_id)}>{d.conversation_id}</a> : "?"}</td>
          </tr>
        )}
      />
      <h3>Recent notifications</h3>
      <Notifications env={props.env} testId={`notifications-${props.env}`} />
    </section>
  );
}
