/**
 * One Google Cloud provider per environment, pinned to the stack's project and region.
 *
 * Every resource of an environment is created through this provider (and names its project
 * explicitly as well), so nothing falls back to the ambient gcloud project or to
 * `GOOGLE_CLOUD_PROJECT`. The stack files also disable the default gcp provider, which turns
 * a resource that forgot its provider into an error instead of a deployment elsewhere.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import { logicalName } from "./names";

/** The label every resource of an environment carries (where the resource takes labels). */
export const ENVIRONMENT_LABEL = "tether-environment";

export function environmentProvider(
  resources: EnvironmentResources,
  region: string,
  opts: pulumi.CustomResourceOptions,
): gcp.Provider {
  return new gcp.Provider(
    logicalName(resources, "gcp"),
    {
      project: resources.projectId,
      region,
      defaultLabels: { [ENVIRONMENT_LABEL]: resources.environment },
    },
    opts,
  );
}
