/**
 * Pulumi-only naming. Every cloud resource name comes from `shared/environment.ts`
 * (including the deployables: functions, services, the function-source bucket).
 */
import type { DeployableNames, EnvironmentResources } from "../shared/environment";

export type { DeployableNames };

/** The deployables' names, from the shared naming module. */
export function deployableNames(resources: EnvironmentResources): DeployableNames {
  return resources.deployables;
}

/**
 * A Pulumi logical name, unique within a stack that holds several environments.
 *
 * Pulumi URNs do not include the parent's name, so two environments built in one program
 * (as the isolation tests do) need distinct logical names for their children.
 */
export function logicalName(resources: EnvironmentResources, ...parts: readonly string[]): string {
  return [resources.environment, ...parts].join("-");
}
