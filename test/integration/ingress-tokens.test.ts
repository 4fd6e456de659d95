/**
 * Tokens through the real ingress and API on the emulators (PROTOCOL.md section 2,
 * "Tokens"): a resume token is never an access token (4401 / 401) and an access token never
 * a resume token; resuming needs both; 30 s of clock tolerance on `exp`, `nbf` and `iat`; a
 * browser's bearer in `Sec-WebSocket-Protocol`; and no log line of ours holds any token
 * this file used, wherever it travelled (header, subprotocol, `access_token` or
 * `resume_token` query).
 */
import { startApi } from "../../functions/api/server";
import { forComponent, type RunningService } from "../../functions/runtime";
import { signAccessToken } from "../../shared/auth";
import { requireTokenKeys } from "../../shared/config";
import { type IngressHarness, startIngressHarness } from "../support/ingress-harness";
import { rawConnect } from "../support/ingress-raw-client";

let h: IngressHarness;
let api: RunningService;
/** Every token this file sent anywhere: none may appear in a log line. */
const used = new Set<string>();

beforeAll(async () => {
  h = await startIngressHarness("tokens");
  api = await startApi(forComponent(h.runtime, "api"), { host: "127.0.0.1", port: 0 });
});
afterAll(async () => {
  await api?.close();
  await h?.close();
});

const keep = (token: string): string => {
  used.add(token);
  return token;
};
const access = async (user = "tok-user", claims: Record<string, unknown> = {}, ttlSeconds?: number) =>
  keep(await signAccessToken(requireTokenKeys(h.runtime.settings), user, { claims, ttlSeconds }));

async function readyConversation(user = "tok-user"): Promise<{ id: string; resumeToken: string }> {
  const client = rawConnect(h.url, { token: await access(user) });
  const ready = await client.next("ready");
  client.ws.close();
  await client.closed;
  return { id: String(ready.conversation_id), resumeToken: keep(String(ready.resume_token)) };
}

const apiGet = (path: string, token?: string) =>
  fetch(`${api.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe("token kinds", () => {
  it("refuses a resume token as the bearer: 4401 at the ingress, 401 at the API", async () => {
    const { id, resumeToken } = await readyConversation();
    const asBearer = rawConnect(h.url, { token: resumeToken });
    expect(await asBearer.next("error")).toMatchObject({
      code: "unauthorized",
      message: expect.stringContaining("a resume token is not an access token"),
    });
    expect((await asBearer.closed).code).toBe(4401);
    // Resuming with the resume token as both credentials is refused as well.
    const both = rawConnect(h.url, { token: resumeToken, resumeToken });
    expect((await both.closed).code).toBe(4401);

    expect((await apiGet("/v1/conversations", resumeToken)).status).toBe(401);
    expect((await apiGet(`/v1/conversations/${id}`, resumeToken)).status).toBe(401);
    expect((await apiGet(`/v1/conversations?access_token=${resumeToken}`)).status).toBe(401);
    expect((await apiGet(`/v1/conversations/${id}`, await access())).status).toBe(200);
  });

  it("refuses an access token as the resume token, and a resume token without an access token", async () => {
    const { resumeToken } = await readyConversation();
    const accessAsResume = rawConnect(h.url, { token: await access(), resumeToken: await access() });
    expect(await accessAsResume.next("error")).toMatchObject({
      code: "unauthorized",
      message: expect.stringContaining("an access token is not a resume token"),
    });
    expect((await accessAsResume.closed).code).toBe(4401);
    const alone = rawConnect(h.url, { resumeToken });
    expect((await alone.closed).code).toBe(4401);
  });

  it("resumes with a valid access token of the same user and the resume token", async () => {
    const { id, resumeToken } = await readyConversation("tok-owner");
    const resumed = rawConnect(h.url, { token: await access("tok-owner"), resumeToken });
    expect(await resumed.next("ready")).toMatchObject({ conversation_id: id });
    resumed.ws.close();
    const stranger = rawConnect(h.url, { token: await access("tok-stranger"), resumeToken });
    expect((await stranger.closed).code).toBe(4403);
  });
});

describe("clock tolerance", () => {
  const now = () => Math.floor(Date.now() / 1000);

  it.each([5, 29])("accepts nbf and iat %i s ahead of the ingress's clock", async (ahead) => {
    const token = await access("tok-skew", { nbf: now() + ahead, iat: now() + ahead });
    const client = rawConnect(h.url, { token });
    expect(await client.next("ready")).toMatchObject({ type: "ready" });
    client.ws.close();
    expect((await apiGet("/v1/conversations", token)).status).toBe(200);
  });

  // Each check gets a token minted just before it, and 28 s rather than 29: a second
  // boundary may pass between minting and checking, which moves exp one second further behind.
  it.each([5, 28])("accepts exp %i s behind the ingress's clock", async (behind) => {
    const client = rawConnect(h.url, { token: await access("tok-skew", {}, -behind) });
    expect(await client.next("ready")).toMatchObject({ type: "ready" });
    client.ws.close();
    expect((await apiGet("/v1/conversations", await access("tok-skew", {}, -behind))).status).toBe(200);
  });

  // 32 s rather than 31: a second boundary may pass between minting and checking.
  it.each(["nbf", "iat", "exp"])("refuses %s beyond the tolerance", async (claim) => {
    const token =
      claim === "exp" ? await access("tok-skew", {}, -32) : await access("tok-skew", { [claim]: now() + 32 });
    expect((await rawConnect(h.url, { token }).closed).code).toBe(4401);
    expect((await apiGet("/v1/conversations", token)).status).toBe(401);
  });
});

describe("no credential in a URL", () => {
  it("takes the bearer from Sec-WebSocket-Protocol and selects tether.v1", async () => {
    const client = rawConnect(h.url, { token: await access(), tokenInProtocol: true });
    expect(await client.next("ready")).toMatchObject({ type: "ready" });
    expect(client.ws.protocol).toBe("tether.v1");
    client.ws.close();
    const forged = rawConnect(h.url, { token: "x.y.z", tokenInProtocol: true });
    expect((await forged.closed).code).toBe(4401);
  });

  it("still accepts the access_token query of old clients", async () => {
    const client = rawConnect(h.url, { token: await access(), tokenInQuery: true });
    expect(await client.next("ready")).toMatchObject({ type: "ready" });
    client.ws.close();
  });

  it("writes no token into any log line (run last: scans the lines of every test above)", async () => {
    // A request that fails with a token in its query, at the API and at the ingress.
    const token = await access();
    const { resumeToken } = await readyConversation();
    expect((await apiGet(`/v1/conversations/%zz?access_token=${token}&resume_token=${resumeToken}`)).status).toBe(400);
    const badQuery = rawConnect(h.url, { rawQuery: `codec=mp3&access_token=${token}&resume_token=${resumeToken}` });
    expect((await badQuery.closed).code).toBe(4415);
    await new Promise((resolve) => setImmediate(resolve));
    expect(used.size).toBeGreaterThan(10);
    const lines = h.logs.map((line) => JSON.stringify(line));
    expect(lines.length).toBeGreaterThan(20);
    for (const secret of used) {
      // Each part of a JWT: a signature alone would let nobody in, but a header and payload
      // would show whose token it was; no part of any token is written.
      const leaked = lines.filter((line) => line.includes(secret) || line.includes(secret.split(".")[2] ?? secret));
      expect(leaked).toEqual([]);
    }
  });
});
