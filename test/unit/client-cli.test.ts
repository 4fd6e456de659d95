/**
 * The stream command's pure parts: its terminal output (messages never land on the
 * progress line), what Ctrl-C says, the console link, and the demo's script laid out and
 * played (every segment sent once its audio is written, each turn assigned at its end).
 */

import { leftOpenLines, nothingAnswers, rerunCommand } from "../../client/cli-sentences";
import { consoleLink, type Target } from "../../client/cli-target";
import { StatusOutput } from "../../client/cli-terminal";
import { DEMO_SAMPLE_RATE, playDemo } from "../../client/demo-conversation";
import { loadDemoPlan } from "../../client/demo-voices";
import type { Segment } from "../../shared/messages";

function fakeStream(isTTY: boolean) {
  const written: string[] = [];
  return { isTTY, write: (text: string) => written.push(text), text: () => written.join("") };
}

describe("the stream command's output", () => {
  it("on a terminal, prints a message on its own line above the progress line and redraws it", () => {
    const out = fakeStream(true);
    const status = new StatusOutput(out);
    status.progress("sent 5.0 s | acked 4.0 s");
    status.say("  resumed at 5.0 s");
    status.progress("sent 6.0 s | acked 5.0 s");
    status.endProgress();
    // What the terminal shows: each \r\x1b[2K clears the line in place.
    const lines = out
      .text()
      .split("\n")
      .map((line) => line.split("\r\x1b[2K").at(-1));
    expect(lines).toEqual(["  resumed at 5.0 s", "sent 6.0 s | acked 5.0 s", ""]);
  });

  it("on a pipe, prints plain lines and the progress at most every interval", () => {
    const out = fakeStream(false);
    let now = 0;
    const status = new StatusOutput(out, 2000, () => now);
    status.progress("a");
    now = 500;
    status.progress("b");
    status.say("message");
    now = 2500;
    status.progress("c");
    status.progress("d", true);
    expect(out.text()).toBe("a\nmessage\nc\nd\n");
  });

  it("says on Ctrl-C what was left open and how to resume it", () => {
    const base = { conversationId: "c1", environment: "dev", acked: "4.0 s", written: "5.5 s", finalizing: false };
    const withStore = leftOpenLines({ ...base, store: ".tether/s", args: ["a b.wav", "--store", ".tether/s"] });
    expect(withStore[0]).toBe("stopped (Ctrl-C): conversation c1 on dev was left open, not finalized.");
    expect(withStore.at(-1)).toBe("    npm run stream -- 'a b.wav' --store .tether/s");
    const without = leftOpenLines({ ...base, store: undefined, args: ["x.wav"] }).join("\n");
    expect(without).toContain("cannot be resumed");
    expect(without).toContain("npm run stream -- x.wav --store .tether/sdk-store");
    expect(leftOpenLines({ ...base, conversationId: undefined, store: undefined, args: [] })).toEqual([
      "stopped (Ctrl-C) before the server answered: no conversation was started.",
    ]);
    expect(rerunCommand(["it's"])).toBe("npm run stream -- 'it'\\''s'");
  });

  it("names what to run when nothing answers", () => {
    const local = nothingAnswers({
      url: "ws://h/v1/listen",
      attempts: 6,
      lastFailure: "no connection",
      fromStateFile: true,
    });
    expect(local).toMatch(
      /^nothing answers at ws:\/\/h\/v1\/listen \(6 attempts in 7 s, last: no connection\)\. .*`npm start`/,
    );
    expect(nothingAnswers({ url: "u", attempts: 1, lastFailure: undefined, fromStateFile: false })).toContain("--url");
  });

  it("links the conversation's console page, as the user a minted token names", () => {
    const target = { consoleUrl: "http://127.0.0.1:8070/", user: "cli-user" } as Target;
    expect(consoleLink(target, "dev", "c1")).toBe(
      "http://127.0.0.1:8070/?env=dev&user=cli-user&view=conversation&id=c1",
    );
    expect(consoleLink({ ...target, user: undefined }, "dev", "c1")).toBe(
      "http://127.0.0.1:8070/?env=dev&view=conversation&id=c1",
    );
    expect(consoleLink({ ...target, consoleUrl: undefined }, "dev", "c1")).toBeUndefined();
  });
});

describe("the demo", () => {
  const plan = loadDemoPlan();

  it("gives each speaker a first turn longer than extraction's 8 s minimum sample", () => {
    const turns = new Map<string, number>();
    for (const cue of plan.cues) {
      const id = cue.segment.id.replace(/-\d+$/, "");
      turns.set(
        `${cue.segment.speaker} ${id}`,
        (turns.get(`${cue.segment.speaker} ${id}`) ?? 0) + cue.segment.end - cue.segment.start,
      );
    }
    expect(turns.get("SPEAKER_00 demo-1")).toBeGreaterThanOrEqual(8.5);
    expect(turns.get("SPEAKER_01 demo-2")).toBeGreaterThanOrEqual(8.5);
    expect(plan.pcm.length).toBe(Math.round(plan.seconds * DEMO_SAMPLE_RATE) * 2);
    expect(plan.cues.at(-1)?.endByte).toBe(plan.pcm.length);
  });

  it("sends each segment once its audio is written and assigns each turn at its end, resumed or not", async () => {
    const played = async (from: number) => {
      const log: string[] = [];
      let written = from;
      await playDemo(
        {
          write: async (pcm) => {
            written += pcm.length;
          },
          sendSegments: (segments: readonly Segment[]) => {
            for (const s of segments) {
              expect(s.end * 2 * DEMO_SAMPLE_RATE).toBeLessThanOrEqual(written + 2);
              log.push(s.id);
            }
          },
          assignSpeaker: (person, ids) => log.push(`${person}:${ids.join(",")}`),
        },
        plan,
        { speed: 0, from },
      );
      expect(written).toBe(plan.pcm.length);
      return log;
    };
    const whole = await played(0);
    expect(whole).toEqual([
      "demo-1-1",
      "demo-1-2",
      "demo-1-3",
      "demo-alan:demo-1-1,demo-1-2,demo-1-3",
      "demo-2-1",
      "demo-2-2",
      "demo-2-3",
      "demo-sara:demo-2-1,demo-2-2,demo-2-3",
      "demo-3-1",
      "demo-alan:demo-3-1",
      "demo-4-1",
      "demo-sara:demo-4-1",
    ]);
    // Resumed in the second turn: what came before is sent again (idempotent), then the rest.
    expect(await played(plan.cues[4]?.endByte ?? 0)).toEqual(whole);
  });
});
