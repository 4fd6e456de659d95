/**
 * Tokens (shared/auth.ts): an access token verifies only with its environment's key and
 * the verifier refuses tokens whose claims break PROTOCOL.md section 5; a resume token
 * holds only in the environment that signed it.
 */
import crypto from "node:crypto";
import { SignJWT } from "jose";
import {
  AuthError,
  bearerToken,
  checkResumeToken,
  hs256Verifier,
  signAccessToken,
  signResumeToken,
} from "../../shared/auth";
import { parseEnvironmentName } from "../../shared/environment";

const stagingKey = "staging-key-0123456789abcdef";
const prodKey = "prod-key-0123456789abcdef0000";
const staging = parseEnvironmentName("staging");
const prod = parseEnvironmentName("prod");

describe("access tokens", () => {
  it("verifies a token signed with the environment's key", async () => {
    const token = await signAccessToken(stagingKey, "user-1");
    await expect(hs256Verifier(stagingKey).verify(token)).resolves.toEqual({ userId: "user-1" });
  });

  it.each([
    ["missing", undefined],
    ["invalid", "not-a-jwt"],
  ])("reports a %s token", async (reason, token) => {
    await expect(hs256Verifier(stagingKey).verify(token)).rejects.toMatchObject({ reason });
  });

  it("rejects a forged and an expired token", async () => {
    const forged = await signAccessToken(prodKey, "user-1");
    await expect(hs256Verifier(stagingKey).verify(forged)).rejects.toMatchObject({ reason: "invalid" });
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("user-1")
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(stagingKey));
    await expect(hs256Verifier(stagingKey).verify(expired)).rejects.toBeInstanceOf(AuthError);
    await expect(hs256Verifier(stagingKey).verify(expired)).rejects.toMatchObject({ reason: "expired" });
  });

  it("reads the header first, then the query parameter", () => {
    expect(bearerToken("Bearer abc", "def")).toBe("abc");
    expect(bearerToken(undefined, "def")).toBe("def");
    expect(bearerToken("Basic abc", null)).toBeUndefined();
  });
});

describe("resume tokens", () => {
  const claims = { environment: staging, conversationId: "conv-12345678", userId: "user-1" };

  it("round-trips in the environment that signed it", async () => {
    const token = await signResumeToken(stagingKey, claims);
    await expect(checkResumeToken(stagingKey, token, staging)).resolves.toEqual({ ok: true, claims });
  });

  it("names the pinned environment when presented elsewhere", async () => {
    const token = await signResumeToken(stagingKey, claims);
    await expect(checkResumeToken(prodKey, token, prod)).resolves.toEqual({
      ok: false,
      reason: "wrong_environment",
      expectedEnvironment: "staging",
    });
  });

  it("is unauthorized when it names this environment but another key signed it", async () => {
    const forged = await signResumeToken(prodKey, claims);
    await expect(checkResumeToken(stagingKey, forged, staging)).resolves.toMatchObject({
      ok: false,
      reason: "unauthorized",
    });
  });

  it("is unauthorized when it is not a JWT at all", async () => {
    await expect(checkResumeToken(stagingKey, "garbage", staging)).resolves.toMatchObject({ reason: "unauthorized" });
  });
});

/*
 * Which client tokens the verifier refuses (PROTOCOL.md section 5: `sub` and `exp`):
 * no `exp`, `alg: none`, another algorithm, an expired `exp`, a future `nbf`, claims of
 * the wrong type. Tokens are built with jose itself, or by hand where jose refuses to
 * sign them (`alg: none`).
 */
const SECRET = "claims-key-0123456789abcdef0123";
const key = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);

/** A compact JWS with any header and payload, HMAC-SHA256 signed (or unsigned for `none`). */
function handMade(header: Record<string, unknown>, payload: Record<string, unknown>, sign = true): string {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = sign ? crypto.createHmac("sha256", SECRET).update(input).digest("base64url") : "";
  return `${input}.${signature}`;
}

const verify = (token: string) => hs256Verifier(SECRET).verify(token);

describe("access token claims", () => {
  it("accepts a token with sub and exp (what signAccessToken mints)", async () => {
    await expect(verify(await signAccessToken(SECRET, "u1"))).resolves.toEqual({ userId: "u1" });
    await expect(verify(handMade({ alg: "HS256" }, { sub: "u1", exp: now() + 60 }))).resolves.toEqual({
      userId: "u1",
    });
  });

  it("refuses a token without exp, naming the claim", async () => {
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("u1").sign(key);
    await expect(verify(noExp)).rejects.toMatchObject({ reason: "invalid", message: "token claim `exp` is missing" });
    await expect(verify(handMade({ alg: "HS256" }, { sub: "u1" }))).rejects.toMatchObject({
      message: "token claim `exp` is missing",
    });
  });

  it("refuses a token without sub", async () => {
    await expect(verify(handMade({ alg: "HS256" }, { exp: now() + 60 }))).rejects.toMatchObject({
      reason: "invalid",
      message: "token claim `sub` is missing",
    });
  });

  it.each([
    ["alg none", handMade({ alg: "none" }, { sub: "u1", exp: now() + 60 }, false)],
    ["alg none with a signature", handMade({ alg: "none" }, { sub: "u1", exp: now() + 60 })],
    ["alg HS512", handMade({ alg: "HS512" }, { sub: "u1", exp: now() + 60 })],
    ["alg RS256", handMade({ alg: "RS256" }, { sub: "u1", exp: now() + 60 })],
    ["no alg", handMade({}, { sub: "u1", exp: now() + 60 })],
    ["a future nbf", handMade({ alg: "HS256" }, { sub: "u1", exp: now() + 600, nbf: now() + 300 })],
    ["exp as a string", handMade({ alg: "HS256" }, { sub: "u1", exp: String(now() + 60) })],
    ["sub as a number", handMade({ alg: "HS256" }, { sub: 42, exp: now() + 60 })],
    ["an empty sub", handMade({ alg: "HS256" }, { sub: "", exp: now() + 60 })],
    ["a payload that is not an object", `${Buffer.from('{"alg":"HS256"}').toString("base64url")}.WzFd.x`],
  ])("refuses %s as invalid", async (_what, token) => {
    await expect(verify(token)).rejects.toMatchObject({ name: "AuthError", reason: "invalid" });
  });

  it("refuses an expired token as expired", async () => {
    await expect(verify(handMade({ alg: "HS256" }, { sub: "u1", exp: now() - 31 }))).rejects.toMatchObject({
      reason: "expired",
    });
  });
});

describe("token kinds", () => {
  const claims = { environment: staging, conversationId: "conv-12345678", userId: "user-1" };

  it("never accepts a resume token as an access token", async () => {
    const resume = await signResumeToken(stagingKey, claims);
    await expect(hs256Verifier(stagingKey).verify(resume)).rejects.toMatchObject({
      reason: "invalid",
      message: expect.stringContaining("a resume token is not an access token"),
    });
  });

  it("signs resume tokens with a key of their own: one without the resume typ does not verify either", async () => {
    // The same payload, re-signed without `typ`, fails the signature check under the access key.
    const resume = await signResumeToken(stagingKey, claims);
    const [header, payload, signature] = resume.split(".");
    const body = JSON.parse(Buffer.from(payload ?? "", "base64url").toString()) as Record<string, unknown>;
    delete body.typ;
    const stripped = `${header}.${Buffer.from(JSON.stringify(body)).toString("base64url")}.${signature}`;
    await expect(hs256Verifier(stagingKey).verify(stripped)).rejects.toMatchObject({ reason: "invalid" });
  });

  it("never accepts an access token as a resume token", async () => {
    const access = await signAccessToken(stagingKey, "user-1");
    await expect(checkResumeToken(stagingKey, access, staging)).resolves.toEqual({
      ok: false,
      reason: "unauthorized",
      message: expect.stringContaining("an access token is not a resume token"),
    });
    // Even one that claims to be a resume token: it is signed with the access key.
    const posing = await signAccessToken(stagingKey, "user-1", {
      claims: { typ: "tether-resume", env: "staging", cid: "conv-12345678" },
    });
    await expect(checkResumeToken(stagingKey, posing, staging)).resolves.toMatchObject({ ok: false });
    await expect(hs256Verifier(stagingKey).verify(posing)).rejects.toMatchObject({ reason: "invalid" });
  });
});

describe("clock tolerance (30 s on exp, nbf and iat)", () => {
  const T = 2_000_000_000;
  const atT = hs256Verifier(SECRET, { now: () => T });
  const token = (claims: Record<string, unknown>) => handMade({ alg: "HS256" }, { sub: "u1", exp: T + 600, ...claims });

  it.each([
    ["nbf 5 s ahead", { nbf: T + 5 }],
    ["nbf 29 s ahead", { nbf: T + 29 }],
    ["iat 5 s ahead", { iat: T + 5 }],
    ["iat and nbf 30 s ahead", { iat: T + 30, nbf: T + 30 }],
    ["exp 29 s ago", { exp: T - 29 }],
  ])("accepts %s", async (_what, claims) => {
    await expect(atT.verify(token(claims))).resolves.toEqual({ userId: "u1" });
  });

  it.each([
    ["nbf 31 s ahead", { nbf: T + 31 }, "invalid"],
    ["iat 31 s ahead", { iat: T + 31 }, "invalid"],
    ["iat an hour ahead", { iat: T + 3600 }, "invalid"],
    ["exp 31 s ago", { exp: T - 31 }, "expired"],
  ])("refuses %s", async (_what, claims, reason) => {
    await expect(atT.verify(token(claims))).rejects.toMatchObject({ reason });
  });
});

describe("key sets (kid)", () => {
  const k1 = { kid: "k1", secret: "old-key-0123456789abcdef0123" };
  const k2 = { kid: "k2", secret: "new-key-0123456789abcdef0123" };
  const before = { current: k1, retiring: [] };
  const after = { current: k2, retiring: [k1] };
  const claims = { environment: staging, conversationId: "conv-12345678", userId: "user-1" };

  it("verifies tokens of the current and the retiring key, chosen by kid", async () => {
    const old = await signAccessToken(before, "u1");
    expect(JSON.parse(Buffer.from(old.split(".")[0] ?? "", "base64url").toString())).toMatchObject({ kid: "k1" });
    await expect(hs256Verifier(after).verify(old)).resolves.toEqual({ userId: "u1" });
    await expect(hs256Verifier(after).verify(await signAccessToken(after, "u1"))).resolves.toEqual({ userId: "u1" });
    const oldResume = await signResumeToken(before, claims);
    await expect(checkResumeToken(after, oldResume, staging)).resolves.toEqual({ ok: true, claims });
  });

  it("refuses a kid it does not hold, and a token of the new key before the key set has it", async () => {
    const newer = await signAccessToken(after, "u1");
    await expect(hs256Verifier(before).verify(newer)).rejects.toMatchObject({
      reason: "invalid",
      message: 'token key id "k2" is not one of this environment\'s keys',
    });
    const wrongKid = handMade({ alg: "HS256", kid: "../../etc/passwd" }, { sub: "u1", exp: now() + 60 });
    await expect(hs256Verifier(after).verify(wrongKid)).rejects.toMatchObject({
      message: "token key id (malformed) is not one of this environment's keys",
    });
  });

  it("verifies a token without kid with the current key only (local tokens)", async () => {
    const local = await signAccessToken(k2.secret, "u1");
    await expect(hs256Verifier(after).verify(local)).resolves.toEqual({ userId: "u1" });
    await expect(hs256Verifier({ current: k1, retiring: [k2] }).verify(local)).rejects.toMatchObject({
      reason: "invalid",
    });
  });

  it("refuses a token that names a kid but is signed with another key", async () => {
    const forged = await signAccessToken({ current: { kid: "k1", secret: k2.secret }, retiring: [] }, "u1");
    await expect(hs256Verifier(after).verify(forged)).rejects.toMatchObject({ reason: "invalid" });
  });
});

describe("bearer in Sec-WebSocket-Protocol", () => {
  it("reads tether.bearer.<jwt> from the offer, after the Authorization header", () => {
    expect(bearerToken(undefined, null, "tether.v1, tether.bearer.abc.def.ghi")).toBe("abc.def.ghi");
    expect(bearerToken(undefined, "q", "tether.v1,tether.bearer.x")).toBe("x");
    expect(bearerToken("Bearer h", "q", "tether.v1, tether.bearer.x")).toBe("h");
    expect(bearerToken(undefined, "q", "tether.v1, tether.bearer.")).toBe("q");
    expect(bearerToken(undefined, null, ["tether.v1", "tether.bearer.y"])).toBe("y");
  });
});
