/**
 * The failure classifier (functions/failure-kind.ts): what a worker dead-letters at once
 * (the same input fails the same way on every delivery) and what it retries. Errors come
 * from the real libraries where they can be produced without a server: the Firestore
 * client's own argument checks, zod, Cloud Storage's ApiError, a refused TCP connection.
 * test/integration/identifiers-stores.test.ts classifies errors the emulators return.
 */
import net from "node:net";
import { Firestore, GrpcStatus } from "@google-cloud/firestore";
import { ApiError } from "@google-cloud/storage";
import { z } from "zod";
import { classifyFailure, describeFailure, PermanentFailure } from "../../functions/failure-kind";

/** An error shaped as @grpc/grpc-js and google-gax raise them: `code` is the status. */
function grpcError(code: GrpcStatus, details: string): Error {
  return Object.assign(new Error(`${code} ${GrpcStatus[code]}: ${details}`), { code, details });
}

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("did not throw");
}

describe("classifyFailure", () => {
  it.each([
    [GrpcStatus.INVALID_ARGUMENT, 'Resource id "__x__" is invalid because it is reserved.'],
    [GrpcStatus.OUT_OF_RANGE, "offset out of range"],
    [GrpcStatus.FAILED_PRECONDITION, "Transaction too big"],
  ])("permanent: gRPC status %s", (code, details) => {
    expect(classifyFailure(grpcError(code, details))).toBe("permanent");
  });

  it.each([
    [GrpcStatus.UNAVAILABLE, "connection refused"],
    [GrpcStatus.DEADLINE_EXCEEDED, "deadline"],
    [GrpcStatus.ABORTED, "Too much contention on these documents"],
    [GrpcStatus.RESOURCE_EXHAUSTED, "quota"],
    [GrpcStatus.INTERNAL, "internal"],
    [GrpcStatus.UNKNOWN, "Application error processing RPC"],
    [GrpcStatus.CANCELLED, "cancelled"],
    [GrpcStatus.NOT_FOUND, "No document to update"],
    [GrpcStatus.PERMISSION_DENIED, "missing grant"],
    [GrpcStatus.UNAUTHENTICATED, "token"],
    [GrpcStatus.FAILED_PRECONDITION, "The query requires an index. You can create it here: ..."],
    [GrpcStatus.FAILED_PRECONDITION, "the stored version does not match the required base version"],
    [GrpcStatus.INVALID_ARGUMENT, "Transaction is invalid or closed."],
    [GrpcStatus.INVALID_ARGUMENT, "The referenced transaction has expired or is no longer valid."],
  ])("transient: gRPC status %s (%s)", (code, details) => {
    expect(classifyFailure(grpcError(code, details))).toBe("transient");
  });

  it("names the status in the reason", () => {
    expect(describeFailure(grpcError(GrpcStatus.INVALID_ARGUMENT, "x"))).toEqual({
      kind: "permanent",
      reason: "grpc INVALID_ARGUMENT",
    });
    expect(describeFailure(grpcError(GrpcStatus.UNAVAILABLE, "x"))).toEqual({
      kind: "transient",
      reason: "grpc UNAVAILABLE",
    });
  });

  it("permanent: the Firestore client's own argument checks (nothing was sent)", async () => {
    const db = new Firestore({ projectId: "failure-kind-test" });
    try {
      expect(classifyFailure(thrownBy(() => db.collection("c").doc("a/b")))).toBe("permanent");
      expect(classifyFailure(thrownBy(() => db.collection("c").doc("")))).toBe("permanent");
      const undefinedValue = thrownBy(() => db.collection("c").doc("d").set({ field: undefined }));
      expect(classifyFailure(undefinedValue)).toBe("permanent");
    } finally {
      await db.terminate();
    }
  });

  it("permanent: malformed data (zod), and PermanentFailure", () => {
    expect(classifyFailure(thrownBy(() => z.object({ a: z.number() }).parse({ a: "x" })))).toBe("permanent");
    expect(describeFailure(new PermanentFailure("segment id is reserved"))).toEqual({
      kind: "permanent",
      reason: "segment id is reserved",
    });
  });

  it("Cloud Storage answers: 400 is permanent, 429 and 5xx transient", () => {
    const http = (code: number) => Object.assign(new ApiError(`status ${code}`), { code });
    expect(classifyFailure(http(400))).toBe("permanent");
    expect(classifyFailure(http(413))).toBe("permanent");
    for (const code of [408, 429, 500, 502, 503, 504, 404, 403]) expect(classifyFailure(http(code))).toBe("transient");
  });

  it("transient: a refused TCP connection (a real network error)", async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const error = await new Promise<unknown>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.on("error", resolve);
    });
    expect(describeFailure(error)).toEqual({ kind: "transient", reason: "network ECONNREFUSED" });
  });

  it("reads through causes, and calls anything unknown transient", () => {
    const wrapped = new Error("storing segment s1 failed", {
      cause: grpcError(GrpcStatus.INVALID_ARGUMENT, "reserved"),
    });
    expect(classifyFailure(wrapped)).toBe("permanent");
    for (const unknown of [new Error("boom"), "a string", undefined, null, 42, { code: "EWHATEVER" }]) {
      expect(describeFailure(unknown)).toEqual({ kind: "transient", reason: "unknown error" });
    }
  });
});
