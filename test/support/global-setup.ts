/**
 * Jest global setup for the integration project: starts the three emulators on free
 * ports and exports their addresses to every test worker through the environment.
 */
import { emulatorEnvironment, startEmulators } from "../../local/emulators";
import { killEmulatorsOnInterrupt } from "../../local/gcloud-emulator";
import { freePort } from "../../local/ports";
import { setRunningEmulators } from "./running-emulators";

export default async function globalSetup(): Promise<void> {
  const host = "127.0.0.1";
  // If jest is interrupted, globalTeardown does not run: kill the emulators on the way out.
  killEmulatorsOnInterrupt();
  const emulators = await startEmulators(host, {
    pubsub: await freePort(host),
    firestore: await freePort(host),
    storage: await freePort(host),
  });
  setRunningEmulators(emulators);
  Object.assign(process.env, emulatorEnvironment(emulators.endpoints), {
    // Tests read logs through their own streams; keep the shared output readable.
    LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
  });
}
