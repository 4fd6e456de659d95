// local/gcloud-emulator.ts: the check that gcloud and its emulator components are installed, and its one-sentence advice when not.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { assertGcloudEmulatorsInstalled, EmulatorUnavailableError } from "../../local/gcloud-emulator";

describe("gcloud emulator check", () => {
  it("says in one sentence how to install the emulators when gcloud is missing", () => {
    // A PATH without gcloud, as on a laptop without the Google Cloud CLI.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "tether-no-gcloud-"));
    let error: unknown;
    try {
      assertGcloudEmulatorsInstalled(["pubsub", "firestore"], { ...process.env, PATH: bin });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EmulatorUnavailableError);
    const message = (error as Error).message;
    expect(message).toMatch(
      /^gcloud was not found on PATH: .*gcloud components install beta pubsub-emulator cloud-firestore-emulator/,
    );
    expect(message.split(/\.\s/).length).toBe(1); // one sentence
  });

  it("passes where gcloud and both emulator components are installed", () => {
    expect(() => assertGcloudEmulatorsInstalled(["pubsub", "firestore"])).not.toThrow();
  });
});
