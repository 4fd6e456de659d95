/**
 * The upgrade handshake refuses, with 4400 naming the field and the rule, every id a store
 * behind the ingress could not hold: a reserved conversation id in the query, and a token
 * `sub` that is not valid Unicode or too long to be a user id. A token without `exp` is 4401.
 */
import crypto from "node:crypto";
import { SignJWT } from "jose";
import { authorizeUpgrade, type HandshakeConfig, type HandshakeContext } from "../../functions/ingress/handshake";
import { ProtocolError } from "../../functions/ingress/protocol-error";
import { hs256Verifier, signAccessToken } from "../../shared/auth";
import { parseEnvironmentName } from "../../shared/environment";

const KEY = "staging-key-0123456789abcdef";
const config: HandshakeConfig = {
  environment: parseEnvironmentName("staging"),
  tokenSecret: KEY,
  verifier: hs256Verifier(KEY),
  chunkSeconds: 5,
};

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
  return `${input}.${crypto.createHmac("sha256", KEY).update(input).digest("base64url")}`;
}

const exp = () => Math.floor(Date.now() / 1000) + 600;

describe("authorizeUpgrade and identifiers", () => {
  it("4400 for a conversation id Firestore reserves, naming the field and the rule", async () => {
    const error = await refusal("conversation_id=__reserved__", await signAccessToken(KEY, "u1"));
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
    const error = await refusal("", await signAccessToken(KEY, "u".repeat(129)));
    expect(error).toMatchObject({ code: "bad_request", message: "access token claim sub must be 1 to 128 characters" });
  });

  it("takes any other sub verbatim, reserved-looking ones included (it is never a key)", async () => {
    for (const sub of ["__x__", "a/b", "😀".repeat(128)]) {
      const context: HandshakeContext = { conversationId: undefined, userId: undefined };
      const intent = await authorizeUpgrade(
        { url: "/v1/listen", headers: { authorization: `Bearer ${await signAccessToken(KEY, sub)}` } },
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
      .sign(new TextEncoder().encode(KEY));
    const error = await refusal("", noExp);
    expect(error).toMatchObject({
      code: "unauthorized",
      message: "access token refused: token claim `exp` is missing",
    });
  });
});
