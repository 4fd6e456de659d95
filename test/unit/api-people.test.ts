/** The person JSON the API returns (PROTOCOL.md section 3), from a stored person document. */
import { Timestamp } from "@google-cloud/firestore";
import { personView } from "../../functions/api/people";

const t = (iso: string) => Timestamp.fromDate(new Date(iso));

describe("personView", () => {
  it("returns samples and the embedding's model and size, never its vector", () => {
    const view = personView(
      {
        id: "p1",
        user_id: "u1",
        samples: [
          {
            uri: "gs://b/people/p1/samples/x.wav",
            sample_id: "x",
            conversation_id: "c",
            segment_ids: ["s1"],
            duration_ms: 9000,
          },
        ],
        embedding: { model: "wespeaker-resnet34", dim: 3, vector: [0.1, 0.2, 0.3] },
        updated_at: t("2030-01-01T00:00:00Z"),
      },
      "p1",
    );
    expect(view).toEqual({
      id: "p1",
      samples: [
        { uri: "gs://b/people/p1/samples/x.wav", conversation_id: "c", segment_ids: ["s1"], duration_ms: 9000 },
      ],
      embedding: { model: "wespeaker-resnet34", dim: 3 },
    });
  });
});
