/**
 * A TLS HTTP/2 server in front of an emulator (Pub/Sub's or Firestore's), as Google's front
 * end is in front of the service: it records each gRPC request's headers (credentials
 * included), forwards the call to the emulator over plain HTTP/2, or answers a scripted gRPC
 * error or response instead. Its key and self-signed certificate (for `localhost` and 127.0.0.1) are
 * made by the `openssl` CLI.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http2 from "node:http2";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { grpcPrefix } from "../../functions/ingress/protobuf-wire";

export interface GrpcTlsForwarder {
  /** `https://localhost:PORT`. */
  readonly origin: string;
  /** The certificate to trust (self-signed: it is its own CA). */
  readonly ca: string;
  /** Each request's headers, in arrival order. */
  readonly requests: http2.IncomingHttpHeaders[];
  /** The next requests are answered with these gRPC statuses (raw `grpc-message`), not forwarded. */
  failNext(...answers: Array<{ status: number; message: string }>): void;
  /** The next request is answered OK with this response message (protobuf, no gRPC prefix), not forwarded. */
  answerNext(response: Uint8Array): void;
  /** TLS connections accepted so far. */
  connections(): number;
  /** Sends GOAWAY on every connection, as a front end does before it restarts: open calls finish, new ones must go elsewhere. */
  drain(): void;
  close(): Promise<void>;
}

/** A self-signed certificate for localhost, valid one day, made in a temporary directory. */
function selfSignedCertificate(): { key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-tls-"));
  try {
    const key = path.join(dir, "key.pem");
    const cert = path.join(dir, "cert.pem");
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        .concat(["-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"])
        .concat(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]),
      { stdio: "ignore" },
    );
    return { key: fs.readFileSync(key, "utf8"), cert: fs.readFileSync(cert, "utf8") };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `emulator`: the emulator's `host:port`. `maxConcurrentStreams`: the server's limit per connection. */
export async function startGrpcTlsForwarder(
  emulator: string,
  options: { maxConcurrentStreams?: number } = {},
): Promise<GrpcTlsForwarder> {
  const { key, cert } = selfSignedCertificate();
  const upstream = http2.connect(`http://${emulator}`);
  upstream.on("error", () => {});
  const requests: http2.IncomingHttpHeaders[] = [];
  const answers: Array<{ status: number; message: string } | { response: Uint8Array }> = [];
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  let connections = 0;

  const server = http2.createSecureServer({
    key,
    cert,
    settings: options.maxConcurrentStreams === undefined ? {} : { maxConcurrentStreams: options.maxConcurrentStreams },
  });
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  server.on("secureConnection", () => {
    connections += 1;
  });
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("stream", (stream, headers) => {
    requests.push(headers);
    stream.on("error", () => {});
    const answer = answers.shift();
    if (answer !== undefined && "response" in answer) {
      stream.resume();
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": 0 }));
      stream.end(Buffer.concat([grpcPrefix(answer.response.length), answer.response]));
      return;
    }
    if (answer !== undefined) {
      stream.resume();
      stream.respond(
        {
          ":status": 200,
          "content-type": "application/grpc",
          "grpc-status": answer.status,
          "grpc-message": answer.message,
        },
        { endStream: true },
      );
      return;
    }
    const forwarded = Object.fromEntries(
      Object.entries(headers).filter(([name]) => !name.startsWith(":") || name === ":method" || name === ":path"),
    );
    const call = upstream.request(forwarded);
    call.on("error", () => stream.destroy());
    stream.pipe(call);
    let trailers: http2.OutgoingHttpHeaders = {};
    call.on("trailers", (fields) => {
      trailers = fields;
    });
    call.on("response", (fields) => {
      // A trailers-only answer (an error) carries its status in the headers.
      const endStream = fields["grpc-status"] !== undefined;
      stream.respond(fields, endStream ? { endStream } : { waitForTrailers: true });
      if (!endStream) call.pipe(stream);
    });
    stream.on("wantTrailers", () => stream.sendTrailers(trailers));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;

  return {
    origin: `https://localhost:${port}`,
    ca: cert,
    requests,
    failNext: (...next) => {
      answers.push(...next);
    },
    answerNext: (response) => {
      answers.push({ response });
    },
    connections: () => connections,
    drain: () => {
      for (const session of sessions) session.close();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      upstream.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
