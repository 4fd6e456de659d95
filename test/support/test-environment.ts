/**
 * A fresh, isolated environment on the shared emulators for one test file: its own
 * environment name, project id, topics, subscriptions, bucket and database, so test files
 * run in parallel workers without seeing each other's data.
 */
import crypto from "node:crypto";
import type { EmulatorEndpoints } from "../../local/emulators";
import { provisionEnvironment } from "../../local/provision";
import type { LocalStackOptions } from "../../local/stack";
import {
  type EnvironmentResources,
  environmentResources,
  localProjectId,
  parseEnvironmentName,
} from "../../shared/environment";
import { createGcpClients, type GcpClients } from "../../shared/gcp-clients";

export interface TestEnvironment {
  readonly resources: EnvironmentResources;
  readonly clients: GcpClients;
  close(): Promise<void>;
}

/** A unique environment name: `prefix` (a letter first) plus random hex, at most 20 chars. */
export function uniqueEnvironmentName(prefix = "t"): string {
  const suffix = crypto.randomBytes(5).toString("hex");
  return `${prefix}-${suffix}`.slice(0, 20);
}

export function requireEmulators(): void {
  for (const variable of ["PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"]) {
    if (!process.env[variable]) {
      throw new Error(
        `${variable} is not set: run integration tests through \`npm test\` (jest's global setup starts the emulators)`,
      );
    }
  }
}

/** The emulators jest's global setup started, for tests that run the local stack on them. */
export function runningEmulatorEndpoints(): EmulatorEndpoints {
  requireEmulators();
  return {
    pubsub: process.env.PUBSUB_EMULATOR_HOST as string,
    firestore: process.env.FIRESTORE_EMULATOR_HOST as string,
    storage: process.env.STORAGE_EMULATOR_HOST as string,
  };
}

/** Where a test's local stack runs: free loopback ports, on the emulators of jest's global setup. */
export function onRunningEmulators(): Pick<LocalStackOptions, "host" | "basePort" | "emulators"> {
  return { host: "127.0.0.1", basePort: 0, emulators: { existing: runningEmulatorEndpoints() } };
}

export async function createTestEnvironment(prefix = "t"): Promise<TestEnvironment> {
  requireEmulators();
  const environment = parseEnvironmentName(uniqueEnvironmentName(prefix));
  const resources = environmentResources(environment, localProjectId(environment));
  const clients = createGcpClients(resources);
  await provisionEnvironment(resources, clients);
  return { resources, clients, close: () => clients.close() };
}
