/**
 * The upgrade handshake's decisions and their order: a resume token of another
 * environment is 4409 whatever the access token; a forged token naming this environment is
 * 4401; another user's token is 4403. Then the identifiers it takes: 4400 naming the field
 * and the rule for every id a store behind the ingress could not hold.
 */
import crypto from "node:crypto";
import { SignJWT } from "jose";
import { authorizeUpgrade, type HandshakeConfig, type HandshakeContext } from "../../functions/ingress/handshake";
import { ProtocolError } from "../../functions/ingress/protocol-error";
import { hs256Verifier, signAccessToken, signResumeToken, tokenKeys } from "../../shared/auth";
import { parseEnvironmentName } from "../../shared/environment";

const staging = parseEnvironmentName("staging");
const prod = parseEnvironmentName("prod");
const STAGING_KEY = "staging-key-0123456789abcdef";
const PROD_KEY = "prod-key-0123456789abcdef0000";
const config: HandshakeConfig = {
  environment: staging,
  tokenKeys: tokenKeys(STAGING_KEY),
  verifier: hs256Verifier(STAGING_KEY),
  chunkSeconds: 5,
};

async function outcome(
  query: string,
  authorization?: string,
): Promise<{ intent?: unknown; error?: ProtocolError; context: HandshakeContext }> {
  const context: HandshakeContext = { conversationId: undefined, userId: undefined };
  try {
    const intent = await authorizeUpgrade(
      { url: `/v1/listen?${query}`, headers: authorization ? { authorization } : {} },
      config,
      context,
    );
    return { intent, context };
  } catch (error) {
    return { error: error as ProtocolError, context };
  }
}

const bearer = async (secret: string, user: string) => `Bearer ${await signAccessToken(secret, user)}`;

describe("authorizeUpgrade", () => {
  it("starts a new conversation with a minted id and the format's chunk size", async () => {
    const { intent } = await outcome("codec=pcm16&sample_rate=16000", await bearer(STAGING_KEY, "u1"));
    expect(intent).toMatchObject({ kind: "new", userId: "u1", codec: "pcm16", sampleRate: 16000, chunkSize: 160_000 });
    expect((intent as { conversationId: string }).conversationId).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
  });

  it("takes a client-chosen id, and the token from the query", async () => {
    const token = await signAccessToken(STAGING_KEY, "u1");
    const { intent } = await outcome(`codec=opus&sample_rate=48000&conversation_id=my-conv-01&access_token=${token}`);
    expect(intent).toMatchObject({ kind: "client_id", conversationId: "my-conv-01", chunkSize: 250 });
  });

  it("answers 4409 to another environment's resume token, before looking at the access token", async () => {
    const resume = await signResumeToken(PROD_KEY, { environment: prod, conversationId: "conv-prod-1", userId: "u1" });
    // The client carries prod's access token too, which staging cannot verify.
    const { error } = await outcome(`resume_token=${resume}`, await bearer(PROD_KEY, "u1"));
    expect(error).toMatchObject({
      code: "wrong_environment",
      extra: { environment: "staging", expected_environment: "prod" },
    });
  });

  it("answers 4401 to a forged resume token that names this environment", async () => {
    const forged = await signResumeToken("not-the-staging-key-000000", {
      environment: staging,
      conversationId: "conv-1234",
      userId: "u1",
    });
    const { error } = await outcome(`resume_token=${forged}`, await bearer(STAGING_KEY, "u1"));
    expect(error?.code).toBe("unauthorized");
  });

  it.each([
    ["no token", undefined],
    ["a token signed with another key", "prod"],
    ["an expired token", "expired"],
    ["a token without sub", "nosub"],
  ])("answers 4401 to %s", async (_name, kind) => {
    let authorization: string | undefined;
    if (kind === "prod") authorization = await bearer(PROD_KEY, "u1");
    if (kind === "expired") authorization = `Bearer ${await signAccessToken(STAGING_KEY, "u1", -31)}`;
    if (kind === "nosub") {
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: "HS256" })
        .setExpirationTime("1h")
        .sign(new TextEncoder().encode(STAGING_KEY));
      authorization = `Bearer ${token}`;
    }
    const { error } = await outcome("", authorization);
    expect(error?.code).toBe("unauthorized");
  });

  it("answers 4403 to a resume token issued to another user", async () => {
    const resume = await signResumeToken(STAGING_KEY, {
      environment: staging,
      conversationId: "conv-1234",
      userId: "owner",
    });
    const { error, context } = await outcome(`resume_token=${resume}`, await bearer(STAGING_KEY, "intruder"));
    expect(error?.code).toBe("forbidden");
    expect(context).toEqual({ conversationId: "conv-1234", userId: "intruder" });
  });

  it("answers 4400 when conversation_id and the resume token disagree", async () => {
    const resume = await signResumeToken(STAGING_KEY, {
      environment: staging,
      conversationId: "conv-1234",
      userId: "u1",
    });
    const { error } = await outcome(
      `resume_token=${resume}&conversation_id=conv-5678`,
      await bearer(STAGING_KEY, "u1"),
    );
    expect(error?.code).toBe("bad_request");
  });

  it("resumes with a verified token of this environment", async () => {
    const resume = await signResumeToken(STAGING_KEY, {
      environment: staging,
      conversationId: "conv-1234",
      userId: "u1",
    });
    const { intent } = await outcome(
      `resume_token=${resume}&conversation_id=conv-1234`,
      await bearer(STAGING_KEY, "u1"),
    );
    expect(intent).toMatchObject({ kind: "resume", conversationId: "conv-1234", userId: "u1" });
  });

  it("answers 4415 to an unsupported format before authenticating", async () => {
    const { error } = await outcome("codec=aac");
    expect(error?.code).toBe("bad_audio");
  });
});

/*
 * The identifiers the handshake takes: a reserved conversation id in the query, and a
 * token `sub` that is not valid Unicode or too long to be a user id, are 4400 naming the
 * field and the rule (no store behind the ingress could hold them). A token without `exp`
 * is 4401.
 */
async function refusal(query: string, token: string): Promise<ProtocolError> {
  const context: HandshakeContext = { conversationId: undefined, userId: undefined };
  try {
    await authorizeUpgrade(
      { url: `/v1/listen?${query}`, headers: { authorization: `Bearer ${token}` } },
      config,
      context,
    );
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  throw new Error("the handshake accepted it");
}

/** An HS256 token with a raw JSON payload (jose would not sign a lone surrogate as given). */
function rawToken(payloadJson: string): string {
  const input = `${Buffer.from('{"alg":"HS256"}').toString("base64url")}.${Buffer.from(payloadJson).toString("base64url")}`;
  return `${input}.${crypto.createHmac("sha256", STAGING_KEY).update(input).digest("base64url")}`;
}

const exp = () => Math.floor(Date.now() / 1000) + 600;

describe("authorizeUpgrade and identifiers", () => {
  it("4400 for a conversation id Firestore reserves, naming the field and the rule", async () => {
    const error = await refusal("conversation_id=__reserved__", await signAccessToken(STAGING_KEY, "u1"));
    expect(error.code).toBe("bad_request");
    expect(error.message).toBe(
      "query parameter conversation_id must not start and end with '__' (Firestore reserves document ids matching __.*__)",
    );
  });

  it("4400 naming sub for a sub with a lone surrogate (no store holds it as UTF-8)", async () => {
    const error = await refusal("", rawToken(`{"sub":"user-\\ud800","exp":${exp()}}`));
    expect(error.code).toBe("bad_request");
    expect(error.message).toBe("access token claim sub must be valid Unicode (every store holds UTF-8)");
  });

  it("4400 naming sub for a sub over 128 characters", async () => {
    const error = await refusal("", await signAccessToken(STAGING_KEY, "u".repeat(129)));
    expect(error).toMatchObject({ code: "bad_request", message: "access token claim sub must be 1 to 128 characters" });
  });

  it("takes any other sub verbatim, reserved-looking ones included (it is never a key)", async () => {
    for (const sub of ["__x__", "a/b", "😀".repeat(128)]) {
      const context: HandshakeContext = { conversationId: undefined, userId: undefined };
      const intent = await authorizeUpgrade(
        { url: "/v1/listen", headers: { authorization: `Bearer ${await signAccessToken(STAGING_KEY, sub)}` } },
        config,
        context,
      );
      expect(intent.userId).toBe(sub);
    }
  });

  it("4401 for a token without exp", async () => {
    const noExp = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("u1")
      .sign(new TextEncoder().encode(STAGING_KEY));
    const error = await refusal("", noExp);
    expect(error).toMatchObject({
      code: "unauthorized",
      message: "access token refused: token claim `exp` is missing",
    });
  });
});
