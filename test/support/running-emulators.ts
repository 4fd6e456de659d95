/** Hands the emulators from jest's global setup to its global teardown (same process). */
import type { RunningEmulators } from "../../local/emulators";

const KEY = Symbol.for("tether.test.emulators");
type Holder = { [KEY]?: RunningEmulators };

export function setRunningEmulators(emulators: RunningEmulators): void {
  (globalThis as Holder)[KEY] = emulators;
}

export function takeRunningEmulators(): RunningEmulators | undefined {
  const holder = globalThis as Holder;
  const emulators = holder[KEY];
  delete holder[KEY];
  return emulators;
}
