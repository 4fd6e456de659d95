/**
 * The identifier rules (shared/identifiers.ts): every id kind refuses what a store behind
 * it reserves, with a message naming the rule; every id a schema accepts satisfies every
 * store rule of every place it goes (a property over generated ids); the ids the ingress
 * mints always pass.
 */
import fc from "fast-check";
import { newConversationId, newSessionId } from "../../functions/ingress/ids";
import {
  conversationIdSchema,
  firestoreDocumentIdProblem,
  ID_KINDS,
  ID_PLACES,
  type IdKind,
  identifierProblem,
  parseIdentifier,
  personIdSchema,
  pubsubAttributeValueProblem,
  segmentIdSchema,
  sessionIdSchema,
  storageObjectNameProblem,
  userIdSchema,
} from "../../shared/identifiers";
import { clientMessageSchema, parseListenQuery } from "../../shared/protocol";

const SCHEMAS = {
  conversation_id: conversationIdSchema,
  segment_id: segmentIdSchema,
  person_id: personIdSchema,
  session_id: sessionIdSchema,
  user_id: userIdSchema,
} as const;

describe("store rules", () => {
  it.each([
    ["'.' or '..'", "."],
    ["'.' or '..'", ".."],
    ["__.*__", "__x__"],
    ["__.*__", "____"],
    ["__.*__", "__\n__"],
    ["'/'", "a/b"],
    ["empty", ""],
    ["Unicode", "\ud800"],
    ["1500 bytes", "x".repeat(1501)],
    ["1500 bytes", "é".repeat(751)],
  ])("Firestore refuses a document id that breaks the rule %s (%#)", (rule, id) => {
    expect(firestoreDocumentIdProblem(id)).toContain(rule);
  });

  it.each(["...", "___", "__x_", "_x__", "x".repeat(1500), "é".repeat(750), "a b", "~", "\u0000", "😀"])(
    "Firestore holds a document id (%#)",
    (id) => {
      expect(firestoreDocumentIdProblem(id)).toBeUndefined();
    },
  );

  it("knows Cloud Storage's and Pub/Sub's limits", () => {
    expect(storageObjectNameProblem("a\nb")).toContain("line break");
    expect(storageObjectNameProblem(".well-known/acme-challenge/x")).toContain("acme");
    expect(storageObjectNameProblem("x".repeat(1025))).toContain("1024 bytes");
    expect(storageObjectNameProblem("x".repeat(1024))).toBeUndefined();
    expect(pubsubAttributeValueProblem("é".repeat(513))).toContain("1024 bytes");
    expect(pubsubAttributeValueProblem("é".repeat(512))).toBeUndefined();
  });
});

describe("id kinds", () => {
  // An id of each kind that the contract pattern allows but Firestore reserves.
  const reserved: Record<Exclude<IdKind, "user_id">, string> = {
    conversation_id: "__abcdef__",
    segment_id: "__s1__",
    person_id: "__p__",
    session_id: "__s__",
  };

  it.each(Object.entries(reserved))("refuses the reserved %s %j, naming the rule", (kind, id) => {
    expect(identifierProblem(kind as IdKind, id)).toBe(
      "must not start and end with '__' (Firestore reserves document ids matching __.*__)",
    );
    expect(parseIdentifier(kind as IdKind, kind, id)).toEqual({
      ok: false,
      message: `${kind} must not start and end with '__' (Firestore reserves document ids matching __.*__)`,
    });
  });

  it("refuses a user id with a lone surrogate or over 128 characters, and takes any other text", () => {
    expect(identifierProblem("user_id", "a\ud800b")).toContain("Unicode");
    expect(identifierProblem("user_id", "x".repeat(129))).toBe("must be 1 to 128 characters");
    expect(identifierProblem("user_id", "")).toBe("must be 1 to 128 characters");
    for (const id of ["__x__", "a/b", ".", "😀".repeat(128), "user@example.com", "\u0000"]) {
      expect(identifierProblem("user_id", id)).toBeUndefined();
    }
  });

  it("the edge names the field and the rule: a query parameter and a segment inside a message", () => {
    const query = parseListenQuery(new URLSearchParams("conversation_id=__abcdef__"));
    expect(query).toEqual({
      ok: false,
      code: "bad_request",
      message:
        "query parameter conversation_id must not start and end with '__' (Firestore reserves document ids matching __.*__)",
    });
    const message = clientMessageSchema.safeParse({
      type: "segments",
      segments: [
        { id: "ok-1", start: 0, end: 1 },
        { id: "__bad__", start: 1, end: 2 },
      ],
    });
    expect(message.success).toBe(false);
    expect(message.error?.issues[0]).toMatchObject({
      path: ["segments", 1, "id"],
      message: expect.stringContaining("__.*__"),
    });
  });

  it("every id a schema accepts can be held by every place it goes (property)", () => {
    const alphabet = fc.constantFrom(..."Az09_-.:/~é😀\n\u0000".split(""), "\ud800", "__");
    const candidate = fc.oneof(
      fc.string({ unit: alphabet, maxLength: 140 }),
      fc.string({ unit: "grapheme", maxLength: 140 }),
      fc.string({ unit: "binary", maxLength: 140 }),
      fc.stringMatching(/^[A-Za-z0-9_.:-]{1,130}$/),
    );
    fc.assert(
      fc.property(fc.constantFrom(...ID_KINDS), candidate, (kind, id) => {
        const accepted = SCHEMAS[kind].safeParse(id).success;
        expect(accepted).toBe(identifierProblem(kind, id) === undefined);
        if (accepted) for (const place of ID_PLACES[kind]) expect(place(id)).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });

  it("ids the ingress mints always pass", () => {
    for (let i = 0; i < 500; i += 1) {
      expect(identifierProblem("conversation_id", newConversationId())).toBeUndefined();
      expect(identifierProblem("session_id", newSessionId())).toBeUndefined();
    }
  });
});
