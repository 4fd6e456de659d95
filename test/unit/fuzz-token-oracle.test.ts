/**
 * The fuzzer's token oracle (test/support/fuzz-traffic.ts `tokenVerifies`) against the real
 * verifier, for every kind of token it draws: kinds, `kid`s, algorithms, keys, claims and
 * clock skew. If the two disagreed, `npm run fuzz` would blame the ingress for the oracle's
 * mistake, or miss the ingress's.
 */
import fc from "fast-check";
import { hs256Verifier } from "../../shared/auth";
import { buildToken } from "../support/fuzz-run";
import { tokenArbitrary, tokenVerifies } from "../support/fuzz-traffic";

const KEYS = {
  current: { kid: "k-current", secret: "fuzz-oracle-key-0123456789abcdef" },
  retiring: [{ kid: "k-retiring", secret: "fuzz-oracle-old-key-0123456789ab" }],
};
const verifier = hs256Verifier(KEYS);

test("the oracle's verdict on a drawn token is the verifier's", async () => {
  await fc.assert(
    fc.asyncProperty(tokenArbitrary, async (t) => {
      const token = buildToken(t, KEYS);
      const accepted = await verifier.verify(token).then(
        () => true,
        () => false,
      );
      expect({ t, accepted }).toEqual({ t, accepted: tokenVerifies(t) });
    }),
    { numRuns: 1000 },
  );
});
