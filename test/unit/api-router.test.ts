/** The API's routes: which request paths name a conversation, its audio, segments or history, a person, or health. */
import { matchRoute } from "../../functions/api/router";

describe("matchRoute", () => {
  it.each([
    ["/v1/conversations/abc", { kind: "conversation", rawId: "abc" }],
    ["/v1/conversations/abc/audio.wav", { kind: "audio", rawId: "abc" }],
    ["/v1/conversations/abc/segments", { kind: "segments", rawId: "abc" }],
    ["/v1/conversations/abc/history", { kind: "history", rawId: "abc" }],
    ["/v1/people/p%201", { kind: "person", rawId: "p%201" }],
    ["/healthz", { kind: "health" }],
    ["/v1/conversations/abc/audio.mp3", undefined],
    ["/v1/conversations/", undefined],
    ["/v1/conversations/a/b/segments", undefined],
  ])("%s", (path, expected) => {
    expect(matchRoute(path)).toEqual(expected);
  });
});
