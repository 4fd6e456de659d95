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
