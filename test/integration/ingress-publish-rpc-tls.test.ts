/**
 * What production uses and the emulator does not: the Publish RPC over TLS with the client
 * library's credentials on every call, the endpoint the library's settings give, and gRPC
 * errors answered by a server in front of Pub/Sub. The server is a TLS HTTP/2 forwarder to
 * the emulator (test/support/grpc-tls-forwarder.ts).
 */
import { createRequire } from "node:module";
import { PubSub } from "@google-cloud/pubsub";
import { GrpcCallError } from "../../functions/ingress/grpc-unary";
import { endpointOf, PublishRpc } from "../../functions/ingress/publish-rpc";
import { localProjectId, parseEnvironmentName } from "../../shared/environment";
import { type GrpcTlsForwarder, startGrpcTlsForwarder } from "../support/grpc-tls-forwarder";
import { until } from "../support/poll";
import { pullMessages } from "../support/pull";
import { requireEmulators, runningEmulatorEndpoints, uniqueEnvironmentName } from "../support/test-environment";

// The OAuth2Client of the google-auth-library the client library itself depends on.
type AuthClient = NonNullable<ConstructorParameters<typeof PubSub>[0]>["authClient"];
const { OAuth2Client } = createRequire(require.resolve("@google-cloud/pubsub"))("google-auth-library") as {
  OAuth2Client: new () => TokenClient;
};
interface TokenClient {
  setCredentials(credentials: { access_token: string; expiry_date: number }): void;
}

const projectId = localProjectId(parseEnvironmentName(uniqueEnvironmentName("tls")));
const TOKEN = "ya29.test-token-for-the-tls-forwarder";
let emulatorClient: PubSub;
let forwarder: GrpcTlsForwarder;
let topic: string;
const subscription = "audio-tls-sub";
const closing: Array<{ close(): unknown }> = [];

/** Credentials that hold `token` for an hour, so nothing asks a token server. */
function withToken(auth: TokenClient, token: string): TokenClient {
  auth.setCredentials({ access_token: token, expiry_date: Date.now() + 3_600_000 });
  return auth;
}

/** A client as production configures one, but at `apiEndpoint`, with a fixed access token. */
function productionClient(apiEndpoint: string, auth = withToken(new OAuth2Client(), TOKEN)): PubSub {
  const client = new PubSub({ projectId, apiEndpoint, emulatorMode: false, authClient: auth as AuthClient });
  closing.push(client);
  return client;
}

/** A PublishRpc to the forwarder with the endpoint and credentials of `productionClient`. */
function rpcThroughForwarder(auth?: TokenClient, timing: { idleMs?: number } = {}): PublishRpc {
  const endpoint = endpointOf(productionClient(forwarder.origin, auth));
  const rpc = new PublishRpc({ ...endpoint, tls: { ca: forwarder.ca } }, topic, timing);
  closing.push(rpc);
  return rpc;
}

beforeAll(async () => {
  requireEmulators();
  emulatorClient = new PubSub({ projectId });
  const [created] = await emulatorClient.createTopic("audio-tls");
  await created.createSubscription(subscription);
  topic = created.name;
  forwarder = await startGrpcTlsForwarder(runningEmulatorEndpoints().pubsub);
});

afterAll(async () => {
  for (const item of closing) await item.close();
  await forwarder.close();
  await emulatorClient.close();
});

describe("endpointOf", () => {
  test("a Google Cloud endpoint: https, and the library's access token as authorization", async () => {
    const endpoint = endpointOf(productionClient("https://localhost:8443"));
    expect(endpoint.origin).toBe("https://localhost:8443");
    expect((await endpoint.headers()).authorization).toBe(`Bearer ${TOKEN}`);
    const google = endpointOf(new PubSub({ projectId, apiEndpoint: "pubsub.googleapis.com" }));
    expect(google.origin).toBe("https://pubsub.googleapis.com:443");
  });

  test("an emulator endpoint: plain http to its host and port, no credentials", async () => {
    const [host, port] = runningEmulatorEndpoints().pubsub.split(":");
    for (const client of [emulatorClient, new PubSub({ projectId, apiEndpoint: "127.0.0.1:8681" })]) {
      const endpoint = endpointOf(client);
      expect(endpoint.origin).toBe(client === emulatorClient ? `http://${host}:${port}` : "http://127.0.0.1:8681");
      expect(await endpoint.headers()).toEqual({});
    }
  });
});

test("publishes over TLS, with the authorization header on every call", async () => {
  const auth = withToken(new OAuth2Client(), TOKEN);
  const rpc = rpcThroughForwarder(auth);
  const before = forwarder.requests.length;
  const messages = [0, 1, 2].map((i) => ({ data: Buffer.from(`over tls ${i}`), attributes: { i: String(i) } }));
  for (const message of messages) await rpc.publish([message]);
  const calls = forwarder.requests.slice(before);
  expect(calls).toHaveLength(3);
  for (const headers of calls) {
    expect(headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(headers[":path"]).toBe("/google.pubsub.v1.Publisher/Publish");
    expect(headers["x-goog-request-params"]).toBe(`topic=${encodeURIComponent(topic)}`);
  }
  // A refreshed token goes out on the next call, on the same connection.
  const connections = forwarder.connections();
  withToken(auth, `${TOKEN}-refreshed`);
  await rpc.publish([{ data: Buffer.from("over tls 3"), attributes: {} }]);
  expect(forwarder.requests.at(-1)?.authorization).toBe(`Bearer ${TOKEN}-refreshed`);
  expect(forwarder.connections()).toBe(connections);
  const pulled = await pullMessages(emulatorClient, subscription, { count: 4 });
  expect(pulled.map((message) => message.data.toString()).sort()).toEqual([
    ...messages.map((m) => m.data.toString()),
    "over tls 3",
  ]);
});

test("UNAVAILABLE in trailers is retried; PERMISSION_DENIED rejects at once with its message", async () => {
  const rpc = rpcThroughForwarder();
  const message = { data: Buffer.from("retried"), attributes: {} };
  let before = forwarder.requests.length;
  forwarder.failNext({ status: 14, message: "the front end is restarting" });
  expect(await rpc.publish([message])).toHaveLength(1);
  expect(forwarder.requests.length - before).toBe(2);
  for (const headers of forwarder.requests.slice(before)) expect(headers.authorization).toBe(`Bearer ${TOKEN}`);

  before = forwarder.requests.length;
  const detail = "User not authorized to perform this action: pubsub.topics.publish on tópico";
  forwarder.failNext({ status: 7, message: encodeURIComponent(detail) });
  const failure = await rpc.publish([message]).catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(GrpcCallError);
  expect((failure as GrpcCallError).code).toBe(7);
  expect((failure as GrpcCallError).message).toContain(detail);
  expect(forwarder.requests.length - before).toBe(1);

  // A grpc-message that is not valid percent-encoding (a proxy's own text) is kept as it came.
  forwarder.failNext({ status: 7, message: "quota at 100% for this project" });
  const raw = await rpc.publish([message]).catch((error: unknown) => error);
  expect((raw as GrpcCallError).code).toBe(7);
  expect((raw as GrpcCallError).message).toContain("quota at 100% for this project");
  await pullMessages(emulatorClient, subscription, { count: 1 });
});

test("a GOAWAY with calls in flight: they finish, and later calls take a new connection", async () => {
  const rpc = rpcThroughForwarder();
  const before = { requests: forwarder.requests.length, connections: forwarder.connections() };
  const messages = [0, 1, 2, 3].map((i) => ({ data: Buffer.alloc(1024 * 1024, i), attributes: {} }));
  const published = Promise.all(messages.map((message) => rpc.publish([message])));
  await until("a call to reach the server", () => forwarder.requests.length > before.requests);
  forwarder.drain();
  expect((await published).flat()).toHaveLength(4);
  expect(await rpc.publish([{ data: Buffer.from("after the goaway"), attributes: {} }])).toHaveLength(1);
  expect(forwarder.connections() - before.connections).toBe(2);
  await pullMessages(emulatorClient, subscription, { count: 5 });
});

test("a connection left idle past its limit is not reused", async () => {
  const idleMs = 300;
  const rpc = rpcThroughForwarder(undefined, { idleMs });
  const connections = forwarder.connections();
  const publish = (text: string) => rpc.publish([{ data: Buffer.from(text), attributes: {} }]);
  await publish("first");
  await publish("soon after");
  expect(forwarder.connections() - connections).toBe(1);
  // What is tested is the time itself: the connection's idle limit passes.
  await new Promise((resolve) => setTimeout(resolve, idleMs + 100));
  await publish("after the idle limit");
  expect(forwarder.connections() - connections).toBe(2);
  await pullMessages(emulatorClient, subscription, { count: 3 });
});

test("a server allowing one stream at a time still takes concurrent publishes", async () => {
  const narrow = await startGrpcTlsForwarder(runningEmulatorEndpoints().pubsub, { maxConcurrentStreams: 1 });
  closing.push(narrow);
  const rpc = new PublishRpc({ ...endpointOf(productionClient(narrow.origin)), tls: { ca: narrow.ca } }, topic);
  closing.push(rpc);
  const messages = [0, 1, 2, 3].map((i) => ({ data: Buffer.alloc(100_000, i), attributes: {} }));
  const ids = await Promise.all(messages.map((message) => rpc.publish([message])));
  expect(ids.flat()).toHaveLength(4);
  expect(narrow.requests).toHaveLength(4);
  await pullMessages(emulatorClient, subscription, { count: 4 });
});
