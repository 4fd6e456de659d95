/**
 * The committed stack files (`Pulumi.<stack>.yaml`) as the program would see them.
 */
import fs from "node:fs";
import path from "node:path";

export const REPOSITORY_ROOT = path.resolve(__dirname, "../../..");
export const STACKS = ["dev", "staging", "prod"] as const;
export type StackName = (typeof STACKS)[number];

// js-yaml has no bundled types and is not a dependency of tether itself: it is the YAML
// parser @pulumi/pulumi depends on, the one that reads these files in the real CLI flow.
const yaml = require("js-yaml") as { load(text: string): unknown };

export function readYamlFile(file: string): Record<string, unknown> {
  const parsed = yaml.load(fs.readFileSync(path.join(REPOSITORY_ROOT, file), "utf8"));
  if (parsed === null || typeof parsed !== "object") throw new Error(`${file} is not a YAML mapping`);
  return parsed as Record<string, unknown>;
}

/**
 * A stack's `config:` section as raw config values: Pulumi hands structured values to the
 * program as JSON and scalars as strings.
 */
export function stackConfigValues(stack: string): Record<string, string> {
  const file = readYamlFile(`Pulumi.${stack}.yaml`);
  const config = (file.config ?? {}) as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(config).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]),
  );
}
