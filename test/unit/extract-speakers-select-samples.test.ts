import {
  type PersonSelection,
  type SampleCandidate,
  selectSamples,
  subtractIntervals,
} from "../../functions/extract-speakers/select-samples";
import { buildTimeline, peopleInTimeline, type SegmentInput } from "../../functions/extract-speakers/speaker-timeline";
import { DEFAULT_EXTRACTION_SETTINGS } from "../../shared/extraction-settings";

const settings = DEFAULT_EXTRACTION_SETTINGS;

function seg(
  id: string,
  start: number,
  end: number,
  options: { person?: string; speaker?: string; session?: string; user?: boolean } = {},
): SegmentInput {
  return {
    id,
    start,
    end,
    speaker: options.speaker ?? "SPEAKER_00",
    is_user: options.user ?? false,
    person_id: options.person ?? null,
    session_id: options.session ?? "s1",
  };
}

function candidates(selection: PersonSelection): SampleCandidate[] {
  if ("reason" in selection) throw new Error(`expected candidates, got ${selection.reason}`);
  return selection.candidates;
}

const windows = (selection: PersonSelection) => candidates(selection).map((c) => [c.startMs, c.endMs]);

describe("buildTimeline", () => {
  it("lets an assignment override the segment's own person_id, from any session", () => {
    const timeline = buildTimeline(
      [seg("x", 0, 5, { person: "p1", session: "s1" }), seg("y", 6, 9, { session: "s2" })],
      [
        { segment_id: "x", person_id: "p2" },
        { segment_id: "y", person_id: "p3" },
        { segment_id: "ghost", person_id: "p1" },
      ],
    );
    expect(timeline.segments.map((s) => [s.id, s.personId])).toEqual([
      ["x", "p2"],
      ["y", "p3"],
    ]);
    expect(timeline.unmatchedAssignments).toEqual(["ghost"]);
    expect(peopleInTimeline(timeline)).toEqual(["p2", "p3"]);
  });
});

describe("selectSamples", () => {
  it("takes the centre +/- 5 s of a segment of at least 10 s", () => {
    const timeline = buildTimeline([seg("long", 20, 34, { person: "p1" })], []);
    const selection = selectSamples(timeline, "p1", "conv", 60_000, settings);
    expect(windows(selection)).toEqual([[22_000, 32_000]]);
    expect(candidates(selection)[0]).toMatchObject({ sampleId: "conv_22000_32000", segmentIds: ["long"] });
  });

  it("extends a short segment over adjacent segments of the same speaker, both ways", () => {
    const timeline = buildTimeline(
      [
        seg("before", 1, 4, { speaker: "SPEAKER_01" }),
        seg("named", 4.5, 7, { person: "p1", speaker: "SPEAKER_01" }),
        seg("after", 7.5, 11, { speaker: "SPEAKER_01" }),
      ],
      [],
    );
    const selection = selectSamples(timeline, "p1", "conv", 60_000, settings);
    // Run 1-11 s; a 10 s window centred on the named segment (5.75 s), shifted inside the run.
    expect(windows(selection)).toEqual([[1000, 11_000]]);
    expect(candidates(selection)[0]?.segmentIds).toEqual(["before", "named", "after"]);
  });

  it("does not extend over a gap longer than the join gap", () => {
    const timeline = buildTimeline([seg("named", 0, 5, { person: "p1" }), seg("later", 7, 12)], []);
    expect(selectSamples(timeline, "p1", "conv", 60_000, settings)).toMatchObject({ reason: "too_short" });
  });

  it("never treats the same diarization label of another session as the same speaker", () => {
    const timeline = buildTimeline(
      [
        seg("named", 0, 5, { person: "p1", speaker: "SPEAKER_00", session: "s1" }),
        seg("other-session", 5.2, 12, { speaker: "SPEAKER_00", session: "s2" }),
      ],
      [],
    );
    expect(selectSamples(timeline, "p1", "conv", 60_000, settings)).toMatchObject({ reason: "too_short" });
  });

  it("does not extend over a label that is also named as someone else", () => {
    const timeline = buildTimeline(
      [
        seg("p1-named", 0, 5, { person: "p1", speaker: "SPEAKER_00" }),
        seg("unnamed", 5.2, 12, { speaker: "SPEAKER_00" }),
        seg("p2-named", 20, 25, { person: "p2", speaker: "SPEAKER_00" }),
      ],
      [],
    );
    expect(selectSamples(timeline, "p1", "conv", 60_000, settings)).toMatchObject({ reason: "too_short" });
  });

  it("joins named segments of one person across a session boundary", () => {
    const timeline = buildTimeline(
      [
        seg("first", 10, 14.5, { person: "p1", session: "s1" }),
        seg("second", 15, 20, { person: "p1", session: "s2", speaker: "SPEAKER_03" }),
      ],
      [],
    );
    expect(windows(selectSamples(timeline, "p1", "conv", 60_000, settings))).toEqual([[10_000, 20_000]]);
  });

  it("never includes a stretch where another speaker's segment overlaps, keeping a guard", () => {
    const timeline = buildTimeline(
      [seg("named", 0, 20, { person: "p1" }), seg("interruption", 9, 10, { person: "p2", speaker: "SPEAKER_01" })],
      [],
    );
    const selection = selectSamples(timeline, "p1", "conv", 60_000, settings);
    // Clean stretches: 0-8.8 s and 10.2-20 s (200 ms guard).
    expect(windows(selection)).toEqual([
      [10_200, 20_000],
      [0, 8800],
    ]);
    for (const c of candidates(selection)) {
      expect(c.endMs <= 8800 || c.startMs >= 10_200).toBe(true);
      expect(c.quality.margin_ms).toBe(200);
    }
  });

  it("reports overlapping_speech when crosstalk leaves no clean stretch long enough", () => {
    const timeline = buildTimeline(
      [
        seg("named", 0, 12, { person: "p1" }),
        seg("crosstalk-1", 3, 4, { speaker: "SPEAKER_01" }),
        seg("crosstalk-2", 8, 9, { speaker: "SPEAKER_02" }),
      ],
      [],
    );
    const selection = selectSamples(timeline, "p1", "conv", 60_000, settings);
    expect(selection).toMatchObject({
      candidates: [],
      reason: "overlapping_speech",
      detail: { required_ms: 8000, overlapping_segment_ids: ["crosstalk-1", "crosstalk-2"] },
    });
  });

  it("reports too_short with the longest stretch when the person never speaks 8 s", () => {
    const timeline = buildTimeline([seg("a", 0, 3, { person: "p1" }), seg("b", 3.5, 7, { person: "p1" })], []);
    expect(selectSamples(timeline, "p1", "conv", 60_000, settings)).toEqual({
      personId: "p1",
      candidates: [],
      reason: "too_short",
      detail: { longest_speech_ms: 7000, longest_segment_ms: 3500, required_ms: 8000, segments: 2 },
    });
  });

  it("accepts a clean stretch of 8 to 10 s as a shorter sample", () => {
    const timeline = buildTimeline([seg("a", 2, 11, { person: "p1" })], []);
    expect(windows(selectSamples(timeline, "p1", "conv", 60_000, settings))).toEqual([[2000, 11_000]]);
  });

  it("never cuts past the end of the conversation's audio", () => {
    const timeline = buildTimeline([seg("a", 0, 14, { person: "p1" })], []);
    expect(windows(selectSamples(timeline, "p1", "conv", 9000, settings))).toEqual([[0, 9000]]);
    expect(selectSamples(timeline, "p1", "conv", 7000, settings)).toMatchObject({ reason: "too_short" });
  });

  it("proposes at most maxSamplesPerPerson windows, longest and cleanest first", () => {
    const segments: SegmentInput[] = [];
    for (let i = 0; i < 8; i += 1) segments.push(seg(`s${i}`, i * 20, i * 20 + 9 + (i % 3), { person: "p1" }));
    const timeline = buildTimeline(segments, []);
    const selection = candidates(selectSamples(timeline, "p1", "conv", 1_000_000, settings));
    expect(selection).toHaveLength(5);
    const durations = selection.map((c) => c.endMs - c.startMs);
    expect(durations).toEqual([...durations].sort((a, b) => b - a));
    expect(durations.slice(0, 2)).toEqual([10_000, 10_000]);
    const scores = selection.map((c) => c.estimatedScore);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  it("prefers named speech over speech inferred from a shared label", () => {
    const timeline = buildTimeline(
      [
        seg("named-long", 0, 10, { person: "p1" }),
        seg("named-short", 30, 31, { person: "p1", speaker: "SPEAKER_01" }),
        seg("inferred", 31.2, 40.2, { speaker: "SPEAKER_01" }),
      ],
      [],
    );
    const [first, second] = candidates(selectSamples(timeline, "p1", "conv", 60_000, settings));
    expect(first?.segmentIds).toEqual(["named-long"]);
    expect(second?.quality.assigned_coverage).toBeLessThan(0.2);
    expect(second?.estimatedScore).toBeLessThan(first?.estimatedScore ?? 0);
  });

  it("is deterministic: the same timeline proposes the same sample ids", () => {
    const build = () =>
      buildTimeline(
        [seg("b", 12, 25, { person: "p1" }), seg("a", 0, 11, { person: "p1" }), seg("c", 11.2, 11.9, { person: "p2" })],
        [],
      );
    const ids = () => candidates(selectSamples(build(), "p1", "conv", 60_000, settings)).map((c) => c.sampleId);
    expect(ids()).toEqual(ids());
    // Each window is centred on the clean part of its segment (b starts after c plus the guard).
    expect(ids()).toEqual(["conv_13550_23550", "conv_500_10500"]);
  });

  it("honours its settings", () => {
    const timeline = buildTimeline([seg("a", 0, 6, { person: "p1" })], []);
    const relaxed = { ...settings, minSampleMs: 5000, windowHalfMs: 2000 };
    expect(windows(selectSamples(timeline, "p1", "conv", 60_000, relaxed))).toEqual([[1000, 5000]]);
  });
});

describe("subtractIntervals", () => {
  it("removes the union of holes", () => {
    expect(
      subtractIntervals({ startMs: 0, endMs: 100 }, [
        { startMs: 10, endMs: 20 },
        { startMs: 15, endMs: 30 },
        { startMs: 90, endMs: 120 },
        { startMs: -5, endMs: 2 },
      ]),
    ).toEqual([
      { startMs: 2, endMs: 10 },
      { startMs: 30, endMs: 90 },
    ]);
  });
});
