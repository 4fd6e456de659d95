/**
 * The ingress server (functions/ingress/server.ts) built without listening: building binds
 * no port and starts nothing, so it closes at once; the HTTP routes answer on whatever
 * listener the caller gives the built server. No socket reaches the conversation store
 * here, so the runtime's Google clients are never used (sockets are tested against the
 * emulators in test/integration/ingress-*).
 */

import type { IngressPublisher } from "../../functions/ingress/publisher";
import { createIngress, type Ingress } from "../../functions/ingress/server";
import type { EnvironmentRuntime } from "../../functions/runtime";
import { loadSettings } from "../../shared/config";
import type { GcpClients } from "../../shared/gcp-clients";
import { createLogger } from "../../shared/logger";

function build(): { ingress: Ingress; flushed: () => number } {
  const settings = loadSettings({
    TETHER_ENVIRONMENT: "dev",
    TETHER_PROJECT_ID: "tether-unit",
    TETHER_TOKEN_SECRET: "a-token-secret-long-enough-for-hs256-keys",
  });
  const runtime: EnvironmentRuntime = {
    settings,
    resources: settings.resources,
    // Never reached: no socket opens a conversation in these tests.
    clients: {} as GcpClients,
    logger: createLogger({ level: "silent" }),
  };
  let flushed = 0;
  // The ingress closes its publisher on the way out: close flushes, then ends the audio connection.
  const publisher = {
    close: async () => {
      flushed += 1;
    },
  } as unknown as IngressPublisher;
  return { ingress: createIngress(runtime, { publisher: () => publisher }), flushed: () => flushed };
}

describe("createIngress", () => {
  it("builds without binding a port, and closes (flushing the publisher) without having listened", async () => {
    const { ingress, flushed } = build();
    expect(ingress.server.listening).toBe(false);
    expect(ingress.connections()).toBe(0);
    await ingress.close();
    expect(flushed()).toBe(1);
    // A second close joins the first.
    await ingress.close();
    expect(flushed()).toBe(1);
  });

  it("answers its HTTP routes on a listener the caller provides", async () => {
    const { ingress } = build();
    await new Promise<void>((resolve) => ingress.server.listen(0, "127.0.0.1", resolve));
    try {
      const address = ingress.server.address();
      if (address === null || typeof address === "string") throw new Error("no port");
      const base = `http://127.0.0.1:${address.port}`;

      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: "ok", environment: "dev", connections: 0 });

      const listen = await fetch(`${base}/v1/listen`);
      expect(listen.status).toBe(426);
      expect(listen.headers.get("upgrade")).toBe("websocket");
      expect(await listen.json()).toMatchObject({ error: { code: "upgrade_required" } });

      const unknown = await fetch(`${base}/nowhere`);
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ error: { code: "not_found" } });
    } finally {
      await ingress.close();
    }
    expect(ingress.server.listening).toBe(false);
  });
});
