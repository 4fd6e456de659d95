/**
 * An ingress process, built as functions/ingress/main.ts builds it, that dies (SIGKILL, no
 * drain) at the moment a finalize records `finalizing`: after its final chunk was published
 * and before that write. The instance-dies branch of the idle-timeout finalize window
 * (test/integration/finalize-windows.test.ts).
 */
import { ConversationStore } from "../../functions/ingress/conversation-store";
import { createIngress } from "../../functions/ingress/server";
import { runtimeFromProcessEnv } from "../../functions/runtime";

class DiesAtFinalizing extends ConversationStore {
  override async beginFinalize(): ReturnType<ConversationStore["beginFinalize"]> {
    process.kill(process.pid, "SIGKILL");
    return await new Promise(() => undefined);
  }
}

const runtime = runtimeFromProcessEnv("ingress");
createIngress(runtime, {
  store: (r) => new DiesAtFinalizing(r.clients.firestore, r.resources.environment),
})
  .listen({ host: runtime.settings.host, port: runtime.settings.port })
  .catch((error: unknown) => {
    process.stderr.write(`ingress failed to start: ${String(error)}\n`);
    process.exit(1);
  });
