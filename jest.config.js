// Three projects: pure logic, the emulators, and the Pulumi program under mocks.
// TypeScript is transformed by @swc/jest (fast); `npm run typecheck` checks the types.
const transform = { "^.+\\.tsx?$": ["@swc/jest", { jsc: { target: "es2022" } }] };
const common = { testEnvironment: "node", transform, moduleFileExtensions: ["ts", "js", "json"] };

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...common, displayName: "unit", testMatch: ["<rootDir>/test/unit/**/*.test.ts"] },
    {
      ...common,
      displayName: "integration",
      // Browser tests (headless Chromium, test/browser) share the integration emulators.
      testMatch: ["<rootDir>/test/integration/**/*.test.ts", "<rootDir>/test/browser/**/*.test.ts"],
      // Starts the Pub/Sub, Firestore and Storage emulators once for the whole run.
      globalSetup: "<rootDir>/test/support/global-setup.ts",
      globalTeardown: "<rootDir>/test/support/global-teardown.ts",
    },
    { ...common, displayName: "infra", testMatch: ["<rootDir>/test/infra/**/*.test.ts"] },
  ],
  // Integration tests talk to emulators and child processes; no test asserts on timing.
  testTimeout: 60_000,
  // Most test time is spent waiting on the emulators and child processes, so two files run
  // side by side even on 2 cores (jest's default there is one).
  maxWorkers: 2,
};
