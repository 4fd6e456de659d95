import { environmentResources, localProjectId, parseEnvironmentName } from "../../shared/environment";

describe("environment names", () => {
  it.each(["dev", "staging", "prod", "eu-west-2", "ab", "a1234567890123456789"])("accepts %s", (name) => {
    expect(parseEnvironmentName(name)).toBe(name);
  });

  it.each(["", "a", "Prod", "1dev", "-dev", "dev_1", "a12345678901234567890", "dev.prod", "dev/x"])(
    "rejects %j with the rule in the message",
    (name) => {
      expect(() => parseEnvironmentName(name)).toThrow(/\^\[a-z\]\[a-z0-9-\]\{1,19\}\$/);
    },
  );
});

describe("environment resources", () => {
  const staging = environmentResources(parseEnvironmentName("staging"), "acme-voice");
  const prod = environmentResources(parseEnvironmentName("prod"), "acme-voice");

  it("names every resource after its environment", () => {
    const names = [
      staging.bucket,
      staging.databaseId,
      staging.tokenSecret,
      ...Object.values(staging.topics),
      ...Object.values(staging.subscriptions),
      ...Object.values(staging.serviceAccounts),
    ];
    for (const name of names) expect(name).toContain("staging");
  });

  it("never gives two environments of one project the same name for anything", () => {
    const flatten = (r: typeof staging) => [
      r.bucket,
      r.databaseId,
      r.tokenSecret,
      ...Object.values(r.topics),
      ...Object.values(r.subscriptions),
      ...Object.values(r.serviceAccounts),
      ...Object.values(r.deployables.functions),
      ...Object.values(r.deployables.services),
      r.deployables.functionSourceBucket,
    ];
    const a = flatten(staging);
    const b = new Set(flatten(prod));
    expect(a.filter((name) => b.has(name))).toEqual([]);
  });

  it("fits GCP's limits for the longest environment name and project id", () => {
    const env = parseEnvironmentName("a1234567890123456789");
    const r = environmentResources(env, "p12345678901234567890123456789".slice(0, 30));
    expect(r.bucket.length).toBeLessThanOrEqual(63);
    expect(r.databaseId).toMatch(/^[a-z][a-z0-9-]{2,61}[a-z0-9]$/);
    for (const id of Object.values(r.serviceAccounts)) expect(id).toMatch(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/);
    for (const name of [...Object.values(r.topics), ...Object.values(r.subscriptions)])
      expect(name.length).toBeLessThanOrEqual(255);
    expect(localProjectId(env).length).toBeLessThanOrEqual(30);
  });
});
