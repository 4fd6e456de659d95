/**
 * The Google APIs an environment needs, enabled by the program itself so that the first
 * `pulumi up` works on a blank project; every other resource of the environment waits for
 * them (environment-stack.ts).
 *
 * Derived from the resource types the program uses (`gcp:<module>/...`): a test fails when
 * a type's module is missing here. Service Usage, the API that enables the others, is on
 * in every new project. APIs are never disabled on `pulumi destroy`: environments share a
 * project, and other tenants of the project may rely on them.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import { logicalName } from "./names";

/** The API that enables the others: on by default, so not managed here. */
export const BOOTSTRAP_API = "serviceusage.googleapis.com";

/** What each provider module's resources need, beyond `BOOTSTRAP_API`. */
export const APIS_BY_MODULE: Readonly<Record<string, readonly string[]>> = {
  artifactregistry: ["artifactregistry.googleapis.com"],
  // A 2nd-gen function is built by Cloud Build into Artifact Registry and served by Cloud Run.
  cloudfunctionsv2: [
    "cloudfunctions.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "run.googleapis.com",
  ],
  cloudrunv2: ["run.googleapis.com"],
  // The retention job; enabled in every stack, so setting `tether:retentionDays` later needs no API change.
  cloudscheduler: ["cloudscheduler.googleapis.com"],
  firestore: ["firestore.googleapis.com"],
  logging: ["logging.googleapis.com"],
  monitoring: ["monitoring.googleapis.com"],
  // Project IAM members go through Cloud Resource Manager; service identities and API
  // enablement through Service Usage.
  projects: ["cloudresourcemanager.googleapis.com"],
  pubsub: ["pubsub.googleapis.com"],
  secretmanager: ["secretmanager.googleapis.com"],
  serviceaccount: ["iam.googleapis.com"],
  storage: ["storage.googleapis.com"],
};

/** Every API the environment enables: the union of `APIS_BY_MODULE`. */
export const REQUIRED_APIS: readonly string[] = [...new Set(Object.values(APIS_BY_MODULE).flat())].sort();

export function enableApis(
  resources: EnvironmentResources,
  opts: pulumi.CustomResourceOptions,
): gcp.projects.Service[] {
  return REQUIRED_APIS.map(
    (api) =>
      new gcp.projects.Service(
        logicalName(resources, "api", api.split(".")[0] ?? api),
        { project: resources.projectId, service: api, disableOnDestroy: false, disableDependentServices: false },
        opts,
      ),
  );
}
