/**
 * A socket that reaches its maximum life (`max_socket_age`, issue 29) is warned like a
 * draining one, and the warning leaves the same structured log line: severity, reason,
 * conversation and environment. Through a real ingress on the emulators, with sockets
 * living 0.8 s.
 */
import { type IngressHarness, startIngressHarness } from "../support/ingress-harness";
import { rawConnect } from "../support/ingress-raw-client";

let h: IngressHarness;

beforeAll(async () => {
  h = await startIngressHarness("age", { settings: { TETHER_MAX_SOCKET_SECONDS: "0.8" } });
});
afterAll(async () => {
  await h?.close();
});

test("a goaway for socket age is logged like a drain's", async () => {
  const client = rawConnect(h.url, { token: await h.token("user-age") });
  const ready = await client.next("ready");
  expect(await client.next("goaway")).toEqual({ type: "goaway", reason: "max_socket_age", close_in_ms: 200 });
  const line = h.logs.find((l) => l.message === "goaway sent: the client moves");
  expect(line).toMatchObject({
    severity: "INFO",
    reason: "max_socket_age",
    close_in_ms: 200,
    conversation_id: ready.conversation_id,
    session_id: ready.session_id,
    environment: h.env.resources.environment,
  });
  expect((await client.closed).code).toBe(1012);
});
