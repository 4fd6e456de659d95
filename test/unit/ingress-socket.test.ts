/**
 * IngressSocket turns ws's own refusals into the protocol's close codes, and leaves a
 * client's close frame alone. (It relies on a private flag of ws: this pins it.)
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import WebSocket, { WebSocketServer } from "ws";
import { IngressSocket } from "../../functions/ingress/socket";

let server: http.Server;
let wss: WebSocketServer;
let url: string;
const serverSockets: IngressSocket[] = [];
const parserErrors: string[] = [];

beforeAll(async () => {
  wss = new WebSocketServer({ noServer: true, WebSocket: IngressSocket, maxPayload: 1024 });
  server = http.createServer();
  server.on("upgrade", (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      const ingress = ws as IngressSocket;
      ingress.parserErrorListener = (code) => parserErrors.push(code);
      ingress.on("error", () => undefined);
      serverSockets.push(ingress);
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  wss.close();
  await new Promise((resolve) => server.close(resolve));
});

function open(): Promise<{ client: WebSocket; messages: string[]; closed: Promise<number> }> {
  const client = new WebSocket(url);
  const messages: string[] = [];
  client.on("message", (data) => messages.push(data.toString()));
  const closed = new Promise<number>((resolve) => client.on("close", (code) => resolve(code)));
  return new Promise((resolve) => client.on("open", () => resolve({ client, messages, closed })));
}

test("a message over maxPayload closes with 4413 frame_too_large, after an error message", async () => {
  const { client, messages, closed } = await open();
  client.send(Buffer.alloc(2048));
  expect(await closed).toBe(4413);
  expect(JSON.parse(messages[0] ?? "{}")).toMatchObject({ type: "error", code: "frame_too_large" });
  expect(parserErrors).toContain("frame_too_large");
});

test("invalid UTF-8 in a text frame closes with 4400 bad_request", async () => {
  const { client, messages, closed } = await open();
  // A text frame whose payload is not UTF-8: send raw bytes with the text opcode.
  client.send(Buffer.from([0xff, 0xfe, 0xfd]), { binary: false });
  expect(await closed).toBe(4400);
  expect(JSON.parse(messages[0] ?? "{}")).toMatchObject({ code: "bad_request" });
});

test("a client's own close frame with 1009 is echoed as is", async () => {
  const { client, messages, closed } = await open();
  client.close(1009, "client says too big");
  expect(await closed).toBe(1009);
  expect(messages).toEqual([]);
});

test("closeWithError sends the error, then the table's code", async () => {
  const { messages, closed } = await open();
  const socket = serverSockets[serverSockets.length - 1];
  socket?.closeWithError("wrong_environment", "pinned elsewhere", {
    environment: "staging",
    expected_environment: "prod",
  });
  expect(await closed).toBe(4409);
  expect(JSON.parse(messages[0] ?? "{}")).toEqual({
    type: "error",
    code: "wrong_environment",
    message: "pinned elsewhere",
    environment: "staging",
    expected_environment: "prod",
  });
});
