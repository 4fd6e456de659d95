/**
 * What production uses and the emulator does not: the ingress's own BatchWrite
 * (functions/ingress/batch-write-rpc.ts) over TLS, with the endpoint and credentials a
 * Firestore client configured for Google Cloud resolves to, the headers the client library
 * sends, and gRPC errors (of the whole request, or of one write) from a server in front of
 * Firestore. The server is a TLS HTTP/2 forwarder to the emulator
 * (test/support/grpc-tls-forwarder.ts).
 */
import { createRequire } from "node:module";
import { Firestore, type Timestamp } from "@google-cloud/firestore";
import { BatchWriteRpc, firestoreEndpointOf } from "../../functions/ingress/batch-write-rpc";
import { BatchedUpdates } from "../../functions/ingress/batched-updates";
import { encodeWrite } from "../../functions/ingress/firestore-wire";
import { GrpcStatus, hasGrpcStatus } from "../../shared/grpc-error";
import { encodeAs, firestoreType } from "../support/firestore-protos";
import { type GrpcTlsForwarder, startGrpcTlsForwarder } from "../support/grpc-tls-forwarder";
import { createTestEnvironment, runningEmulatorEndpoints, type TestEnvironment } from "../support/test-environment";

// The gRPC and the OAuth2Client of the gax the Firestore client uses.
const gaxRequire = createRequire(require.resolve("google-gax"));
const { grpc } = gaxRequire("google-gax") as typeof import("google-gax");
const { OAuth2Client } = gaxRequire("google-auth-library") as {
  OAuth2Client: new () => { setCredentials(credentials: { access_token: string; expiry_date: number }): void };
};

const TOKEN = "ya29.test-token-for-the-firestore-forwarder";
let env: TestEnvironment;
let forwarder: GrpcTlsForwarder;
let production: Firestore;

/** A client created with no emulator variable set, as in production. */
function withoutEmulator(settings: ConstructorParameters<typeof Firestore>[0]): Firestore {
  const saved = process.env.FIRESTORE_EMULATOR_HOST;
  delete process.env.FIRESTORE_EMULATOR_HOST;
  try {
    return new Firestore(settings);
  } finally {
    process.env.FIRESTORE_EMULATOR_HOST = saved;
  }
}

/** A production client at `host`, with a fixed access token. */
function productionClient(host: string, settings: Record<string, unknown> = {}): Firestore {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: TOKEN, expiry_date: Date.now() + 3_600_000 });
  const { projectId, databaseId } = env.resources;
  return withoutEmulator({ projectId, databaseId, host, ssl: true, authClient: auth, ...settings });
}

beforeAll(async () => {
  env = await createTestEnvironment("bwtls");
  forwarder = await startGrpcTlsForwarder(runningEmulatorEndpoints().firestore);
  production = productionClient(new URL(forwarder.origin).host);
});
afterAll(async () => {
  await production?.terminate();
  await forwarder?.close();
  await env?.close();
});

test("the endpoint a production client resolves to: TLS to its host, its access token, the library's headers", async () => {
  const database = `projects/${env.resources.projectId}/databases/${env.resources.databaseId}`;
  const endpoint = await firestoreEndpointOf(production);
  expect(endpoint.origin).toBe(forwarder.origin);
  expect(endpoint.database).toBe(database);
  expect((await endpoint.headers()).authorization).toBe(`Bearer ${TOKEN}`);
  const google = withoutEmulator({ projectId: "p", databaseId: "d" });
  expect((await firestoreEndpointOf(google)).origin).toBe("https://firestore.googleapis.com:443");
  await google.terminate();
  // The emulator: plain HTTP/2, with the owner token the library sends it.
  const local = await firestoreEndpointOf(env.clients.firestore);
  expect(local.origin).toBe(`http://${runningEmulatorEndpoints().firestore}`);
  expect(await local.headers()).toEqual({ authorization: "Bearer owner" });

  const rpc = new BatchWriteRpc({ ...endpoint, tls: { ca: forwarder.ca } });
  const ref = env.clients.firestore.doc("batch-write-tls/d");
  const { writeTime } = await ref.set({ n: 0 });
  const before = forwarder.requests.length;
  const write = encodeWrite({ name: rpc.documents + ref.path, data: { n: 1 }, lastUpdateTime: writeTime });
  const [outcome] = await rpc.batchWrite([{ name: ref.path, write }]);
  rpc.close();
  expect(outcome?.ok).toBe(true);
  expect((await ref.get()).get("n")).toBe(1);
  const [ours] = forwarder.requests.slice(before);
  expect(ours?.[":path"]).toBe("/google.firestore.v1.Firestore/BatchWrite");
  expect(ours?.authorization).toBe(`Bearer ${TOKEN}`);
  expect(ours?.["google-cloud-resource-prefix"]).toBe(database);
  expect(ours?.["x-goog-request-params"]).toBe(`database=${encodeURIComponent(database)}`);

  // The client library's own BatchWrite through the same server carries the same headers. (Given
  // channel credentials of its own, to trust the forwarder, it sends no token: the emulator refuses
  // its write, and `authorization` is checked above against the client's token instead.)
  const library = productionClient(new URL(forwarder.origin).host, {
    sslCreds: grpc.credentials.createSsl(Buffer.from(forwarder.ca)),
  });
  const writer = library.bulkWriter();
  const refused = writer.update(library.doc(ref.path), { n: 2 }).catch((error: unknown) => error);
  await writer.close();
  await library.terminate();
  expect(hasGrpcStatus(await refused, GrpcStatus.PERMISSION_DENIED)).toBe(true);
  const theirs = forwarder.requests.find((headers) => headers["user-agent"]?.includes("grpc-node-js"));
  for (const name of [":path", "content-type", "te", "google-cloud-resource-prefix", "x-goog-request-params"]) {
    expect([name, ours?.[name]]).toEqual([name, theirs?.[name]]);
  }
});

test("a whole request failing: UNAVAILABLE is retried; PERMISSION_DENIED fails each write with its code", async () => {
  const ref = env.clients.firestore.doc("batch-write-tls/e");
  const { writeTime } = await ref.set({ n: 0 });
  const updates = new BatchedUpdates(production, { ca: forwarder.ca });
  const proxiedRef = production.doc(ref.path);
  let before = forwarder.requests.length;
  forwarder.failNext({ status: GrpcStatus.UNAVAILABLE, message: "the front end is restarting" });
  const { writeTime: second } = await updates.update(proxiedRef, { n: 1 }, { lastUpdateTime: writeTime });
  expect(forwarder.requests.length - before).toBe(2);

  before = forwarder.requests.length;
  forwarder.failNext({ status: GrpcStatus.PERMISSION_DENIED, message: "Missing or insufficient permissions." });
  const failures = await Promise.allSettled([
    updates.update(proxiedRef, { n: 2 }, { lastUpdateTime: second }),
    updates.update(production.doc("batch-write-tls/f"), { n: 2 }, { lastUpdateTime: second }),
  ]);
  expect(forwarder.requests.length - before).toBe(1);
  for (const failure of failures) {
    expect(failure.status).toBe("rejected");
    if (failure.status === "rejected") {
      expect(hasGrpcStatus(failure.reason, GrpcStatus.PERMISSION_DENIED)).toBe(true);
      expect((failure.reason as Error).message).toContain("Missing or insufficient permissions.");
    }
  }
  updates.close();
  expect((await ref.get()).get("n")).toBe(1);
});

test("a write whose own status is transient goes again in a later request; a lost race does not", async () => {
  const BatchWriteResponse = firestoreType("BatchWriteResponse");
  const ref = env.clients.firestore.doc("batch-write-tls/g");
  const { writeTime } = await ref.set({ n: 0 });
  const updates = new BatchedUpdates(production, { ca: forwarder.ca });
  const proxiedRef = production.doc(ref.path);

  let before = forwarder.requests.length;
  forwarder.answerNext(encodeAs(BatchWriteResponse, { writeResults: [{}], status: [{ code: 14, message: "moved" }] }));
  const { writeTime: landed } = await updates.update(proxiedRef, { n: 1 }, { lastUpdateTime: writeTime });
  expect(forwarder.requests.length - before).toBe(2);
  const read = await ref.get();
  expect(read.get("n")).toBe(1);
  expect(landed.isEqual(read.updateTime as Timestamp)).toBe(true);

  before = forwarder.requests.length;
  forwarder.answerNext(encodeAs(BatchWriteResponse, { writeResults: [{}], status: [{ code: 9, message: "stale" }] }));
  const lost = await updates.update(proxiedRef, { n: 2 }, { lastUpdateTime: landed }).catch((error: unknown) => error);
  expect(hasGrpcStatus(lost, GrpcStatus.FAILED_PRECONDITION)).toBe(true);
  expect(forwarder.requests.length - before).toBe(1);
  updates.close();
});
