/** Operators (local stack only): each environment's dead letters, with why they were rejected. */
import { useEffect, useState } from "preact/hooks";
import type { DeadLettersAnswer, DeadLetterView } from "../../local/console-dead-letters";
import { Notifications } from "./notifications";

export function OperatorsPage(props: { envs: readonly string[] }) {
  const [letters, setLetters] = useState<Record<string, DeadLetterView[] | string>>({});
  useEffect(() => {
    for (const env of props.envs) {
      fetch(`./local/dead-letters?env=${encodeURIComponent(env)}`)
        .then(async (r) => (r.ok ? ((await r.json()) as DeadLettersAnswer).dead_letters : `HTTP ${r.status}`))
        .catch((e: unknown) => `cannot read: ${String(e)}`)
        .then((value) => setLetters((old) => ({ ...old, [env]: value })));
    }
  }, [props.envs]);
  return (
    <section>
      <h2>Recent notifications</h2>
      {props.envs.map((env) => (
        <div key={env}>
          <h3>{env}</h3>
          <Notifications env={env} testId={`notifications-${env}`} />
        </div>
      ))}
      <h2>Dead letters</h2>
      {props.envs.map((env) => {
        const value = letters[env];
        return (
          <div key={env} data-testid={`dead-letters-${env}`}>
            <h3>{env}</h3>
            {value === undefined ? <p class="muted">reading…</p> : null}
            {typeof value === "string" ? <p class="problem">{value}</p> : null}
            {Array.isArray(value) && value.length === 0 ? <p class="muted">none</p> : null}
            {Array.isArray(value) && value.length > 0 ? (
              <table class="stats">
                <thead>
                  <tr>
                    <th>when</th>
                    <th>reason</th>
                    <th>detail</th>
                    <th>rejected by</th>
                    <th>conversation</th>
                  </tr>
                </thead>
                <tbody>
                  {value.map((d) => (
                    <tr key={d.message_id}>
                      <td>{d.publish_time ?? "?"}</td>
                      <td>{d.rejection_reason ?? "?"}</td>
                      <td>{d.rejection_detail ?? ""}</td>
                      <td>{d.rejected_by ?? "?"}</td>
                      <td>{d.conversation_id ?? "?"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
          </div>
        );
      })}
    </section>
  );
}
