/**
 * The deploy-only names fit Google Cloud's limits for the longest environment name and
 * project id the naming module accepts, and stay distinct per environment.
 */

import { deployableNames, logicalName } from "../../infra/names";
import { environmentResources, parseEnvironmentName } from "../../shared/environment";

const longest = environmentResources(parseEnvironmentName(`e${"x".repeat(19)}`), `p${"y".repeat(29)}`);
const names = deployableNames(longest);

test("Cloud Run services, and the services behind the functions, fit in 49 characters", () => {
  for (const name of [...Object.values(names.services), ...Object.values(names.functions)]) {
    expect(name.length).toBeLessThanOrEqual(49);
    expect(name).toMatch(/^[a-z]([a-z0-9-]*[a-z0-9])?$/);
  }
});

test("buckets fit in 63 characters", () => {
  for (const bucket of [names.functionSourceBucket, longest.bucket]) {
    expect(bucket.length).toBeLessThanOrEqual(63);
    expect(bucket).toMatch(/^[a-z0-9][a-z0-9-]*[a-z0-9]$/);
  }
});

test("service account ids, the builds' too, fit in 6 to 30 characters", () => {
  for (const id of [...Object.values(longest.serviceAccounts), ...Object.values(names.buildServiceAccounts)]) {
    expect(id.length).toBeGreaterThanOrEqual(6);
    expect(id.length).toBeLessThanOrEqual(30);
  }
});

test("the function image repository id fits Artifact Registry's 63 characters", () => {
  expect(names.functionImageRepository.length).toBeLessThanOrEqual(63);
  expect(names.functionImageRepository).toMatch(/^[a-z]([a-z0-9-]*[a-z0-9])?$/);
});

test("two environments never share a deploy name or a logical name", () => {
  const dev = environmentResources(parseEnvironmentName("dev"), "tether-shared");
  const prod = environmentResources(parseEnvironmentName("prod"), "tether-shared");
  const all = (r: typeof dev) => {
    const d = deployableNames(r);
    return [
      ...Object.values(d.functions),
      ...Object.values(d.services),
      ...Object.values(d.buildServiceAccounts),
      d.functionSourceBucket,
      d.functionImageRepository,
      logicalName(r, "x"),
    ];
  };
  const devNames = new Set(all(dev));
  expect(all(prod).filter((name) => devNames.has(name))).toEqual([]);
});
