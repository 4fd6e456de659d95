/** The hosted-embedding client against a small HTTP server started here. */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { EmbeddingError } from "../../functions/extract-speakers/embedding";
import { createHttpEmbedder } from "../../functions/extract-speakers/http-embedding";

type Reply = (body: Record<string, unknown>, res: http.ServerResponse) => void;

let server: http.Server;
let url: string;
let reply: Reply;
const received: Record<string, unknown>[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (p: Buffer) => parts.push(p));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(parts).toString()) as Record<string, unknown>;
      received.push({ ...body, method: req.method, contentType: req.headers["content-type"] });
      reply(body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/embed`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received.length = 0;
});

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

const audio = Int16Array.from([0, 1000, -1000, 32767, -32768]);

describe("createHttpEmbedder", () => {
  it("posts base64 PCM16LE with its rate and returns the service's model, dim and vector", async () => {
    reply = (_body, res) => json(res, 200, { model: "resnet34-v2", dim: 3, embedding: [0.1, -0.2, 0.3] });
    const embedding = await createHttpEmbedder({ url, timeoutMs: 2000 }).embed(audio, 16_000);
    expect(embedding).toEqual({ model: "resnet34-v2", dim: 3, vector: [0.1, -0.2, 0.3] });
    const [request] = received;
    expect(request).toMatchObject({
      method: "POST",
      contentType: "application/json",
      encoding: "pcm16le",
      sample_rate: 16_000,
      channels: 1,
    });
    const sent = Buffer.from(String(request?.audio), "base64");
    expect(Array.from({ length: sent.length / 2 }, (_, i) => sent.readInt16LE(i * 2))).toEqual(Array.from(audio));
  });

  it.each([
    ["an HTTP error", (res: http.ServerResponse) => json(res, 503, { error: "busy" }), /HTTP 503/],
    [
      "an HTTP error with an HTML body",
      (res: http.ServerResponse) => res.writeHead(502, { "content-type": "text/html" }).end("<html>"),
      /HTTP 502/,
    ],
    ["a body that is not JSON", (res: http.ServerResponse) => res.end("<html>"), /not JSON/],
    [
      "a dim that does not match the vector",
      (res: http.ServerResponse) => json(res, 200, { model: "m", dim: 4, embedding: [1, 2, 3] }),
      /dim must equal/,
    ],
    [
      "a vector with a non-number",
      (res: http.ServerResponse) => json(res, 200, { model: "m", dim: 2, embedding: [1, "x"] }),
      /invalid answer/,
    ],
    ["no model name", (res: http.ServerResponse) => json(res, 200, { dim: 1, embedding: [1] }), /model/],
  ])("rejects %s with an EmbeddingError", async (_name, respond, message) => {
    reply = (_body, res) => respond(res);
    const attempt = createHttpEmbedder({ url, timeoutMs: 2000 }).embed(audio, 16_000);
    await expect(attempt).rejects.toBeInstanceOf(EmbeddingError);
    await expect(attempt).rejects.toThrow(message);
  });

  it("gives up after its timeout", async () => {
    reply = () => {
      // Never answer.
    };
    const attempt = createHttpEmbedder({ url, timeoutMs: 150 }).embed(audio, 16_000);
    await expect(attempt).rejects.toThrow(/did not answer within 150 ms/);
  });

  it("reports an unreachable service", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const attempt = createHttpEmbedder({ url: `http://127.0.0.1:${port}/`, timeoutMs: 2000 }).embed(audio, 16_000);
    await expect(attempt).rejects.toThrow(/unreachable/);
  });

  it("refuses a model other than the configured one", async () => {
    reply = (_body, res) => json(res, 200, { model: "other", dim: 1, embedding: [1] });
    const attempt = createHttpEmbedder({ url, timeoutMs: 2000, expectedModel: "resnet34-v2" }).embed(audio, 16_000);
    await expect(attempt).rejects.toThrow(/expected "resnet34-v2"/);
  });
});
