/**
 * API errors (PROTOCOL.md section 3): JSON `{"error":{"code","message"}}` with the HTTP
 * status that says what the client should do.
 */
import type { ServerResponse } from "node:http";

export const ERROR_CODES = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  413: "payload_too_large",
  416: "range_not_satisfiable",
  500: "internal",
} as const;

export type ErrorStatus = keyof typeof ERROR_CODES;

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: ErrorStatus,
    message: string,
    /** Extra response headers, e.g. `WWW-Authenticate` or `Content-Range`. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  get code(): string {
    return ERROR_CODES[this.status];
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(payload)),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(payload);
}

export function sendError(res: ServerResponse, error: ApiError): void {
  sendJson(res, error.status, { error: { code: error.code, message: error.message } }, { ...error.headers });
}
