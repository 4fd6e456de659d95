import { takeRunningEmulators } from "./running-emulators";

export default async function globalTeardown(): Promise<void> {
  await takeRunningEmulators()?.stop();
}
