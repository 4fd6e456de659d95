/**
 * How the worker functions are built: each build runs as a service account of its own,
 * with only what a Cloud Functions (2nd gen) build needs, and pushes its image to the
 * environment's own Artifact Registry repository.
 *
 * Unset, `buildConfig.serviceAccount` is the project's default compute account, whose
 * grants new organisations strip (`iam.automaticIamGrantsForDefaultServiceAccounts`): every
 * build would fail on a blank project. A build reads the source archive, pushes the image
 * and writes its log, so its account holds:
 * - `roles/storage.objectViewer` on the function-source bucket;
 * - `roles/artifactregistry.writer` on the environment's function image repository;
 * - `roles/logging.logWriter` on the project: Cloud Logging has no narrower target, and the
 *   role lets it write log entries, nothing else.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import type { FunctionKey } from "../shared/pipeline";
import type { UploadedFunctionSource } from "./function-source";
import { type DeployableNames, logicalName } from "./names";

export const BUILD_ROLES = {
  sourceReader: "roles/storage.objectViewer",
  imageWriter: "roles/artifactregistry.writer",
  logWriter: "roles/logging.logWriter",
} as const;

/** Images of older deployments are deleted after 30 days; the latest few stay for rollbacks. */
const IMAGE_RETENTION = { keepCount: 5, olderThan: `${30 * 24 * 3600}s` } as const;

export interface FunctionBuilds {
  /** `projects/<p>/locations/<r>/repositories/<id>`: the functions' `buildConfig.dockerRepository`. */
  readonly repository: gcp.artifactregistry.Repository;
  readonly accounts: Readonly<Record<FunctionKey, gcp.serviceaccount.Account>>;
  /** Every grant the builds need: a function waits for them before its first build. */
  readonly grants: readonly pulumi.Resource[];
}

export function functionBuilds(
  resources: EnvironmentResources,
  names: DeployableNames,
  deps: { readonly region: string; readonly source: UploadedFunctionSource },
  opts: pulumi.CustomResourceOptions,
): FunctionBuilds {
  const project = resources.projectId;
  const repository = new gcp.artifactregistry.Repository(
    logicalName(resources, "function-images"),
    {
      project,
      location: deps.region,
      repositoryId: names.functionImageRepository,
      format: "DOCKER",
      description: `tether ${resources.environment}: worker function images, rebuilt from the source bucket`,
      cleanupPolicies: [
        { id: "keep-latest", action: "KEEP", mostRecentVersions: { keepCount: IMAGE_RETENTION.keepCount } },
        { id: "delete-old", action: "DELETE", condition: { olderThan: IMAGE_RETENTION.olderThan } },
      ],
    },
    opts,
  );

  const grants: pulumi.Resource[] = [];
  const account = (fn: FunctionKey): gcp.serviceaccount.Account => {
    const name = (...parts: string[]) => logicalName(resources, "build", fn, ...parts);
    const built = new gcp.serviceaccount.Account(
      name("sa"),
      {
        project,
        accountId: names.buildServiceAccounts[fn],
        displayName: `tether ${resources.environment} build of ${names.functions[fn]}`,
      },
      opts,
    );
    grants.push(
      new gcp.storage.BucketIAMMember(
        name("reads-source"),
        { bucket: deps.source.bucket.name, role: BUILD_ROLES.sourceReader, member: built.member },
        opts,
      ),
      new gcp.artifactregistry.RepositoryIamMember(
        name("writes-images"),
        {
          project,
          location: deps.region,
          repository: repository.name,
          role: BUILD_ROLES.imageWriter,
          member: built.member,
        },
        opts,
      ),
      new gcp.projects.IAMMember(
        name("writes-logs"),
        { project, role: BUILD_ROLES.logWriter, member: built.member },
        opts,
      ),
    );
    return built;
  };
  const functions = Object.keys(names.functions) as FunctionKey[];
  const accounts = Object.fromEntries(functions.map((fn) => [fn, account(fn)])) as Record<
    FunctionKey,
    gcp.serviceaccount.Account
  >;
  return { repository, accounts, grants };
}
