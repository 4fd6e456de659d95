/**
 * Cross-origin access to the API for browser apps and the conversation console, which
 * is served from its own origin. The API authenticates with bearer tokens only, never
 * cookies, so CORS guards no ambient credential here: by default it answers pages served
 * from loopback origins (the local stack's console, an app's dev server); a deployment
 * names its console's origins with `ApiOptions.allowOrigin`. Other origins get no CORS
 * header, and browsers refuse them the response.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export type OriginPolicy = (origin: string) => boolean;

/** The local stack: any page served from this machine's loopback addresses. */
export const loopbackOrigins: OriginPolicy = (origin) =>
  /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.test(origin);

/** Response headers for a request from `origin`, or none if the policy refuses it. Pure. */
export function corsHeaders(origin: string | undefined, allow: OriginPolicy | undefined): Record<string, string> {
  if (origin === undefined || allow === undefined || !allow(origin)) return {};
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-headers": "authorization, range",
    "access-control-allow-methods": "GET, HEAD, DELETE, OPTIONS",
    "access-control-expose-headers": "content-range, content-length, accept-ranges",
    "access-control-max-age": "600",
    vary: "origin",
  };
}

/**
 * Adds the CORS headers to the response; answers a preflight (`OPTIONS`) itself and
 * returns true when it did.
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, allow: OriginPolicy | undefined): boolean {
  const headers = corsHeaders(req.headers.origin, allow);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (req.method !== "OPTIONS") return false;
  if (Object.keys(headers).length > 0) {
    res.writeHead(204);
    res.end();
    return true;
  }
  const body = JSON.stringify({
    error: { code: "forbidden", message: "cross-origin requests are answered only for the console's origins" },
  });
  res.writeHead(403, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
  return true;
}
