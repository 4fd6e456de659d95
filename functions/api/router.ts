/**
 * The HTTP API as a plain Node request handler, served by server.ts: the same server locally,
 * in tests and on Cloud Run (main.ts).
 *
 * Order of checks on every `/v1` route: body size (413, body-gate.ts), method, route, bearer
 * token (401), its `sub` as a
 * storable user id (400), path parameter (400), ownership (404, then 403). Every response
 * leaves one log line with its status, and the conversation id when the route names one.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { AuthError, bearerToken, hs256Verifier, type Principal, type TokenVerifier } from "../../shared/auth";
import { requireTokenKeys } from "../../shared/config";
import { conversationIdSchema, parseIdentifier, personIdSchema } from "../../shared/identifiers";
import { type Logger, requestPath } from "../../shared/logger";
import { describeIssue } from "../../shared/schema-issues";
import type { EnvironmentRuntime } from "../runtime";
import { serveConversationWav } from "./audio-wav";
import { gateBody } from "./body-gate";
import { listConversations, parseListQuery } from "./conversation-list";
import { conversationView, countSegments, listSessions, loadOwnedConversation } from "./conversations";
import { applyCors, loopbackOrigins, type OriginPolicy } from "./cors";
import { deleteConversation, deletePerson } from "./deletion";
import { ApiError, sendError, sendJson } from "./errors";
import { loadHistory } from "./history";
import { loadOwnedPerson } from "./people";
import { parseSegmentsQuery, segmentsPage } from "./segments-page";
import { audioExtent } from "./served-audio";

export interface ApiOptions {
  /** How bearer tokens are verified; the environment's HS256 key when omitted. */
  readonly verifier?: TokenVerifier;
  /** Origins of browser apps allowed to call (CORS); default: loopback origins (local consoles, dev servers). */
  readonly allowOrigin?: OriginPolicy;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

type Route =
  | { kind: "health" }
  | { kind: "list" }
  | { kind: "conversation" | "audio" | "segments" | "history"; rawId: string }
  | { kind: "person"; rawId: string };

const ROUTES: ReadonlyArray<[RegExp, (id: string) => Route]> = [
  [/^\/v1\/conversations\/([^/]+)$/, (rawId) => ({ kind: "conversation", rawId })],
  [/^\/v1\/conversations\/([^/]+)\/audio\.wav$/, (rawId) => ({ kind: "audio", rawId })],
  [/^\/v1\/conversations\/([^/]+)\/segments$/, (rawId) => ({ kind: "segments", rawId })],
  [/^\/v1\/conversations\/([^/]+)\/history$/, (rawId) => ({ kind: "history", rawId })],
  [/^\/v1\/people\/([^/]+)$/, (rawId) => ({ kind: "person", rawId })],
];

/** Which route a path names, or undefined. Pure. */
export function matchRoute(pathname: string): Route | undefined {
  if (pathname === "/healthz") return { kind: "health" };
  if (pathname === "/v1/conversations") return { kind: "list" };
  for (const [pattern, route] of ROUTES) {
    const match = pattern.exec(pathname);
    if (match?.[1] !== undefined) return route(match[1]);
  }
  return undefined;
}

function pathParameter(raw: string, schema: typeof conversationIdSchema, what: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new ApiError(400, `${what} is not valid percent-encoding`);
  }
  const parsed = schema.safeParse(decoded);
  if (!parsed.success) throw new ApiError(400, describeIssue(parsed.error, what));
  return parsed.data;
}

/** The caller, from a verified token whose `sub` every store can hold (400 naming `sub` otherwise). */
async function authenticate(verifier: TokenVerifier, req: IncomingMessage, url: URL): Promise<Principal> {
  try {
    const principal = await verifier.verify(
      bearerToken(req.headers.authorization, url.searchParams.get("access_token")),
    );
    const user = parseIdentifier("user_id", "access token claim sub", principal.userId);
    if (!user.ok) throw new ApiError(400, user.message);
    return { userId: user.value };
  } catch (error) {
    if (error instanceof AuthError) {
      throw new ApiError(401, `unauthorized: ${error.message}`, {
        "www-authenticate": `Bearer error="invalid_token", error_description="${error.reason}"`,
      });
    }
    throw error;
  }
}

function personIdOf(route: { readonly rawId: string }): string {
  return pathParameter(route.rawId, personIdSchema, "person id");
}

/** The conversation a route names; from here on the request's log line names it too. */
function conversationIdOf(route: { readonly rawId: string }, log: { conversation_id?: string }): string {
  const conversationId = pathParameter(route.rawId, conversationIdSchema, "conversation id");
  log.conversation_id = conversationId;
  return conversationId;
}

function requestUrl(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? "/", "http://api.invalid");
  } catch {
    return undefined;
  }
}

export function createApiHandler(runtime: EnvironmentRuntime, options: ApiOptions = {}): RequestHandler {
  const verifier = options.verifier ?? hs256Verifier(requireTokenKeys(runtime.settings));
  const db = runtime.clients.firestore;
  const bucket = runtime.clients.bucket;
  const environment = runtime.resources.environment;
  const deletion = { db, environment, deletionTopic: runtime.clients.pubsub.topic(runtime.resources.topics.deletion) };

  const handle = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    log: { conversation_id?: string; logger: Logger },
  ) => {
    const route = matchRoute(url.pathname);
    if (!route) throw new ApiError(404, `no such endpoint: ${url.pathname}`);
    const deletable = route.kind === "conversation" || route.kind === "person";
    if (req.method === "DELETE" && (route.kind === "conversation" || route.kind === "person")) {
      await handleDelete(req, res, url, { kind: route.kind, rawId: route.rawId }, log);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      const allow = deletable ? "GET, HEAD, DELETE" : "GET, HEAD";
      throw new ApiError(405, `${req.method} is not supported here; use ${allow}`, { allow });
    }
    if (route.kind === "health") {
      sendJson(res, 200, { status: "ok", environment });
      return;
    }
    const principal = await authenticate(verifier, req, url);
    if (route.kind === "list") {
      sendJson(res, 200, await listConversations(db, principal, parseListQuery(url.searchParams)));
      return;
    }
    if (route.kind === "person") {
      sendJson(res, 200, await loadOwnedPerson(db, personIdOf(route), principal));
      return;
    }
    const conversationId = conversationIdOf(route, log);
    const conversation = await loadOwnedConversation(db, conversationId, principal, environment);
    switch (route.kind) {
      case "conversation": {
        const [sessions, segmentCount, audio] = await Promise.all([
          listSessions(db, conversationId),
          countSegments(db, conversationId),
          audioExtent(
            db,
            bucket,
            conversationId,
            { codec: conversation.codec, sampleRate: conversation.sample_rate },
            log.logger,
          ),
        ]);
        sendJson(
          res,
          200,
          conversationView({ ...conversation, id: conversationId }, { sessions, segmentCount, audio }),
        );
        return;
      }
      case "segments":
        sendJson(res, 200, {
          conversation_id: conversationId,
          ...(await segmentsPage(db, conversationId, parseSegmentsQuery(url.searchParams))),
        });
        return;
      case "history":
        sendJson(res, 200, await loadHistory(db, { ...conversation, id: conversationId }));
        return;
      case "audio":
        await serveConversationWav(
          req,
          res,
          { db, bucket, logger: log.logger.child({ conversation_id: conversationId }) },
          {
            ...conversation,
            id: conversationId,
          },
        );
        return;
    }
  };

  const handleDelete = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    route: { kind: "conversation" | "person"; rawId: string },
    log: { conversation_id?: string },
  ) => {
    const principal = await authenticate(verifier, req, url);
    if (route.kind === "person") {
      sendJson(res, 202, await deletePerson(deletion, personIdOf(route), principal));
      return;
    }
    const conversationId = conversationIdOf(route, log);
    sendJson(res, 202, await deleteConversation(deletion, conversationId, principal));
  };

  return async (req, res) => {
    const url = requestUrl(req.url);
    const log: { conversation_id?: string; logger: Logger } = { logger: runtime.logger };
    let failure: unknown;
    const tooLarge = gateBody(req, res);
    if (applyCors(req, res, options.allowOrigin ?? loopbackOrigins)) return;
    try {
      // A request target that is not a URL is a client error, never a crash.
      if (url === undefined) throw new ApiError(400, "the request target is not a URL");
      if (tooLarge !== undefined) throw tooLarge;
      await handle(req, res, url, log);
    } catch (error) {
      failure = error;
      const apiError = error instanceof ApiError ? error : new ApiError(500, "internal error");
      if (!res.headersSent) sendError(res, apiError);
      else res.destroy();
    }
    const fields = {
      conversation_id: log.conversation_id,
      method: req.method,
      path: url?.pathname ?? requestPath(req.url),
      status: res.statusCode,
      range: req.headers.range,
    };
    if (failure !== undefined && !(failure instanceof ApiError)) {
      runtime.logger.error({ ...fields, err: failure }, "API request failed");
    } else if (failure instanceof ApiError) {
      runtime.logger[failure.status >= 500 ? "error" : "warn"](
        { ...fields, error_code: failure.code },
        failure.message,
      );
    } else {
      runtime.logger.info(fields, "API request served");
    }
  };
}
