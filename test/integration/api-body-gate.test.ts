/**
 * The API as Cloud Run runs it (functions/api/main.ts in its own process): a request body is
 * never read before the request is refused. An anonymous 32 MiB POST gets its 413 (announced
 * length) or 401 (chunked, no length) and its connection closed long before the client could
 * send the body; the bytes the client got onto the wire before the close are measured.
 */
import crypto from "node:crypto";
import net from "node:net";
import { MAX_API_BODY_BYTES } from "../../functions/api/body-gate";
import { freePort } from "../../local/ports";
import { signAccessToken } from "../../shared/auth";
import { type IngressProcess, startServiceProcess } from "../support/ingress-process";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";

const BODY_BYTES = 32 * 1024 * 1024;

interface Upload {
  /** What the server answered, up to the close. */
  readonly response: string;
  /** Body bytes the client's socket accepted before the server closed the connection. */
  readonly sent: number;
}

/** Sends `head`, then streams up to 32 MiB of body as fast as the socket takes it, until the server closes. */
async function upload(port: number, head: string, frame: (chunk: Buffer) => Buffer[]): Promise<Upload> {
  const socket = net.connect(port, "127.0.0.1");
  let response = "";
  let sent = 0;
  let closed = false;
  socket.on("data", (data: Buffer) => {
    response += data.toString("latin1");
  });
  const done = new Promise<void>((resolve) => {
    socket.on("close", () => {
      closed = true;
      resolve();
    });
    socket.on("error", () => {}); // EPIPE / ECONNRESET: the server closed on us, as it should
  });
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(head);
  const chunk = crypto.randomBytes(64 * 1024);
  while (!closed && sent < BODY_BYTES) {
    let writable = true;
    for (const piece of frame(chunk)) writable = socket.write(piece) && writable;
    sent += chunk.length;
    if (!writable) {
      await new Promise<void>((resolve) => {
        const go = () => resolve();
        socket.once("drain", go);
        socket.once("close", go);
      });
    }
  }
  if (!closed) socket.end();
  await done;
  return { response, sent };
}

describe("the deployed API server refuses a body before reading it", () => {
  let env: TestEnvironment;
  let api: Omit<IngressProcess, "url">;
  const tokenSecret = crypto.randomBytes(24).toString("hex");

  beforeAll(async () => {
    env = await createTestEnvironment("abg");
    api = await startServiceProcess("functions/api/main.ts", {
      resources: env.resources,
      tokenSecret,
      port: await freePort(),
      chunkSeconds: 1,
    });
  });

  afterAll(async () => {
    await api?.terminate();
    await env?.close();
  });

  it("answers an anonymous 32 MiB POST with a Content-Length 413 and closes it unread", async () => {
    const { response, sent } = await upload(
      api.port,
      `POST /v1/conversations HTTP/1.1\r\nhost: api\r\ncontent-type: application/json\r\ncontent-length: ${BODY_BYTES}\r\n\r\n`,
      (chunk) => [chunk],
    );
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(response).toMatch(/connection: close/i);
    expect(response).toContain(`exceeds ${MAX_API_BODY_BYTES} bytes`);
    // Loopback socket buffers take a few MiB; a server reading the body would take all 32.
    expect(sent).toBeLessThan(BODY_BYTES / 2);
  });

  it.each([
    ["GET", 401],
    ["POST", 405],
  ])("answers an anonymous chunked 32 MiB %s with %d and closes it unread", async (method, status) => {
    const { response, sent } = await upload(
      api.port,
      `${method} /v1/conversations HTTP/1.1\r\nhost: api\r\ntransfer-encoding: chunked\r\n\r\n`,
      (chunk) => [Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")],
    );
    expect(response).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(response).toMatch(/connection: close/i);
    expect(sent).toBeLessThan(BODY_BYTES / 2);
  });

  it("serves the API itself: an authenticated list, on a kept-alive connection", async () => {
    const token = await signAccessToken(tokenSecret, "alice");
    const response = await fetch(`http://127.0.0.1:${api.port}/v1/conversations`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("connection")).not.toBe("close");
    expect(await response.json()).toEqual({ conversations: [], next_cursor: null });
  });
});
