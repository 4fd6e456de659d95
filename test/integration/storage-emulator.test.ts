/**
 * The local Storage emulator's `ifGenerationMatch=0` gate (local/storage-emulator.ts): creates
 * of one name take turns, and a create whose connection is cut while it waits its turn must
 * not stall the ones after it (a chaos run cuts workers' connections to the emulators).
 */
import http from "node:http";
import { freePort } from "../../local/ports";
import { type RunningStorageEmulator, startStorageEmulator } from "../../local/storage-emulator";
import { until } from "../support/poll";

const BUCKET = "tether-gate-test-audio";

function createRequest(emulator: RunningStorageEmulator, name: string, length: number): http.ClientRequest {
  const url = new URL(`${emulator.url}/upload/storage/v1/b/${BUCKET}/o`);
  url.searchParams.set("uploadType", "media");
  url.searchParams.set("name", name);
  url.searchParams.set("ifGenerationMatch", "0");
  return http.request(url, {
    method: "POST",
    agent: false,
    headers: { "content-type": "application/octet-stream", "content-length": String(length) },
  });
}

function statusOf(request: http.ClientRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    request.once("response", (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.once("error", reject);
  });
}

describe("the Storage emulator's create-if-absent gate", () => {
  let emulator: RunningStorageEmulator;
  beforeAll(async () => {
    emulator = await startStorageEmulator("127.0.0.1", await freePort());
  });
  afterAll(async () => {
    await emulator?.stop();
  });

  it("lets later creates of a name through after queued ones were cut", async () => {
    const name = "conversations/c1/chunks/00000000";
    // The first create holds the name's turn: half its body is sent, the rest never.
    const first = createRequest(emulator, name, 8);
    first.on("error", () => undefined);
    first.write(Buffer.alloc(4, 1));
    // The second waits behind it.
    const second = createRequest(emulator, name, 8);
    second.on("error", () => undefined);
    second.write(Buffer.alloc(4, 2));
    await until("both creates at the emulator", () => emulator.pendingCreates() === 2);
    // Both connections are cut: the second while it waits, the first mid-upload, so the name
    // is still free when the second's turn comes.
    second.destroy();
    await until("the second create's cut to arrive", () => emulator.pendingCreates() === 1);
    first.destroy();
    // A third create of the name goes through, instead of queueing forever.
    const third = createRequest(emulator, name, 8);
    const thirdStatus = statusOf(third);
    third.end(Buffer.alloc(8, 3));
    expect(await thirdStatus).toBe(200);
  });
});
