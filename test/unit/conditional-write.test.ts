import { GrpcStatus } from "@google-cloud/firestore";
import { ifUnchanged, MAX_ROUNDS, RoundFailed, untilUnchanged } from "../../functions/conditional-write";

// What the Firestore client throws for a write whose precondition failed (code is all that is read).
const grpcError = (code: GrpcStatus) => Object.assign(new Error(`grpc ${code}`), { code });

/** A round that counts itself and fails with `error`. */
function failing(counter: { rounds: number }, error: () => unknown): () => Promise<never> {
  return async () => {
    counter.rounds += 1;
    throw error();
  };
}

describe("untilUnchanged", () => {
  it("reads again after each lost race and returns the first round that wins", async () => {
    const losses = [GrpcStatus.FAILED_PRECONDITION, GrpcStatus.ALREADY_EXISTS, GrpcStatus.NOT_FOUND];
    let rounds = 0;
    const result = await untilUnchanged("doc", async () => {
      const loss = losses[rounds++];
      if (loss !== undefined) throw grpcError(loss);
      return "written";
    });
    expect(result).toBe("written");
    expect(rounds).toBe(4);
  });

  it("fails at once on any other error, and with a round's own error through RoundFailed", async () => {
    const counter = { rounds: 0 };
    const unavailable = grpcError(GrpcStatus.UNAVAILABLE);
    await expect(
      untilUnchanged(
        "doc",
        failing(counter, () => unavailable),
      ),
    ).rejects.toBe(unavailable);
    const exists = grpcError(GrpcStatus.ALREADY_EXISTS);
    await expect(
      untilUnchanged(
        "doc",
        failing(counter, () => new RoundFailed(exists)),
      ),
    ).rejects.toBe(exists);
    expect(counter.rounds).toBe(2);
  });

  it(`gives up after ${MAX_ROUNDS} lost rounds, naming the document`, async () => {
    const counter = { rounds: 0 };
    const forever = untilUnchanged(
      "conversation c1",
      failing(counter, () => grpcError(GrpcStatus.FAILED_PRECONDITION)),
    );
    await expect(forever).rejects.toThrow(`conversation c1 kept changing while it was written (${MAX_ROUNDS} rounds)`);
    expect(counter.rounds).toBe(MAX_ROUNDS);
  });
});

describe("ifUnchanged", () => {
  it("answers undefined for a lost race and passes other errors on", async () => {
    await expect(ifUnchanged(() => Promise.reject(grpcError(GrpcStatus.FAILED_PRECONDITION)))).resolves.toBeUndefined();
    await expect(ifUnchanged(() => Promise.resolve(7))).resolves.toBe(7);
    await expect(ifUnchanged(() => Promise.reject(grpcError(GrpcStatus.INTERNAL)))).rejects.toThrow("grpc 13");
  });
});
