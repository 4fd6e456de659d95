import { ConfigError, loadSettings, requireTokenKeys } from "../../shared/config";

const valid = { TETHER_ENVIRONMENT: "staging", TETHER_PROJECT_ID: "acme-voice" };

describe("loadSettings", () => {
  it("derives every resource from the environment and project, with defaults", () => {
    const settings = loadSettings(valid);
    expect(settings.resources.environment).toBe("staging");
    expect(settings.resources.bucket).toBe("acme-voice-staging-audio");
    expect(settings.chunkSeconds).toBe(10);
    expect(settings.idleTimeoutSeconds).toBe(120);
    expect(settings.port).toBe(8080);
  });

  it("falls back to GOOGLE_CLOUD_PROJECT, as Cloud Run sets it", () => {
    const settings = loadSettings({ TETHER_ENVIRONMENT: "prod", GOOGLE_CLOUD_PROJECT: "acme-prod" });
    expect(settings.resources.projectId).toBe("acme-prod");
  });

  it("names the missing variable", () => {
    expect(() => loadSettings({ TETHER_PROJECT_ID: "acme-voice" })).toThrow(/TETHER_ENVIRONMENT .*it is not set/);
  });

  it("names the bad variable and quotes its value", () => {
    expect(() => loadSettings({ ...valid, TETHER_IDLE_TIMEOUT_SECONDS: "soon" })).toThrow(
      /TETHER_IDLE_TIMEOUT_SECONDS .*got "soon"/,
    );
    expect(() => loadSettings({ ...valid, TETHER_ENVIRONMENT: "Prod" })).toThrow(ConfigError);
  });

  it("refuses a bucket that belongs to another environment", () => {
    expect(() => loadSettings({ ...valid, TETHER_BUCKET: "acme-voice-prod-audio" })).toThrow(
      /TETHER_BUCKET .*acme-voice-staging-audio/,
    );
    expect(loadSettings({ ...valid, TETHER_BUCKET: "acme-voice-staging-audio" }).resources.bucket).toBe(
      "acme-voice-staging-audio",
    );
  });

  it("carries the speaker-extraction thresholds, validated with the rest", () => {
    expect(loadSettings(valid).extraction.minSegmentMs).toBe(10_000);
    expect(loadSettings({ ...valid, TETHER_EXTRACTION_MIN_SEGMENT_SECONDS: "12" }).extraction.minSegmentMs).toBe(
      12_000,
    );
    expect(() => loadSettings({ ...valid, TETHER_EXTRACTION_CONCURRENCY: "zero" })).toThrow(
      /TETHER_EXTRACTION_CONCURRENCY .*got "zero"/,
    );
  });

  it("listens on all interfaces unless HOST says otherwise", () => {
    expect(loadSettings(valid).host).toBe("0.0.0.0");
    expect(loadSettings({ ...valid, HOST: "127.0.0.1" }).host).toBe("127.0.0.1");
  });

  it("requires a token key only where a component asks for it", () => {
    expect(() => requireTokenKeys(loadSettings(valid))).toThrow(/TETHER_TOKEN_SECRET/);
    expect(requireTokenKeys(loadSettings({ ...valid, TETHER_TOKEN_SECRET: "x".repeat(32) }))).toEqual({
      current: { kid: undefined, secret: "x".repeat(32) },
      retiring: [],
    });
  });

  it("reads the current key's kid and a retiring key, which needs its kid", () => {
    const keys = {
      ...valid,
      TETHER_TOKEN_SECRET: "n".repeat(32),
      TETHER_TOKEN_KID: "k2",
      TETHER_TOKEN_RETIRING_SECRET: "o".repeat(32),
      TETHER_TOKEN_RETIRING_KID: "k1",
    };
    expect(requireTokenKeys(loadSettings(keys))).toEqual({
      current: { kid: "k2", secret: "n".repeat(32) },
      retiring: [{ kid: "k1", secret: "o".repeat(32) }],
    });
    expect(() => loadSettings({ ...keys, TETHER_TOKEN_RETIRING_KID: undefined })).toThrow(/set together/);
    expect(() => loadSettings({ ...keys, TETHER_TOKEN_RETIRING_KID: "k2" })).toThrow(/must differ/);
    expect(() => loadSettings({ ...keys, TETHER_TOKEN_KID: "bad kid" })).toThrow(/TETHER_TOKEN_KID/);
  });
});
