/**
 * Who may do what: every IAM grant of an environment, on that environment's resources,
 * derived from the pipeline declaration (shared/pipeline-permissions.ts `permissionsOf`): a component
 * that publishes to a topic, reads or writes the bucket or the database, or reads the token
 * key holds that grant by construction, and nothing more.
 *
 * Grants are IAM *members* (additive, one principal and role each) on a single topic,
 * subscription, bucket, secret or Cloud Run service. The one project-level grant is
 * Firestore's, which has no per-database policy: it carries a condition restricting it to
 * the environment's database (database.ts). Nothing is granted to `allUsers`; the public
 * Cloud Run services turn the invoker check off instead (ingress.ts, api.ts).
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import { PIPELINE, type Pipeline } from "../shared/pipeline";
import { type Permission, type PermissionOf, permissionsOf } from "../shared/pipeline-permissions";
import { databaseOnlyCondition } from "./database";
import type { Component, ServiceAccounts } from "./identity";
import { logicalName } from "./names";
import type { TokenSecret } from "./secrets";
import type { DeployedSubscriptions } from "./subscriptions";
import type { Topics } from "./topics";
import type { WorkerFunctions } from "./workers";

export const ROLES = {
  publisher: "roles/pubsub.publisher",
  subscriber: "roles/pubsub.subscriber",
  objectUser: "roles/storage.objectUser",
  objectViewer: "roles/storage.objectViewer",
  databaseUser: "roles/datastore.user",
  databaseViewer: "roles/datastore.viewer",
  secretAccessor: "roles/secretmanager.secretAccessor",
  invoker: "roles/run.invoker",
} as const;

/** The role a permission needs. */
export function roleOf(permission: Permission): string {
  switch (permission.kind) {
    case "publish":
      return ROLES.publisher;
    case "subscribe":
      return ROLES.subscriber;
    case "bucket":
      return permission.level === "readWrite" ? ROLES.objectUser : ROLES.objectViewer;
    case "database":
      return permission.level === "readWrite" ? ROLES.databaseUser : ROLES.databaseViewer;
    case "tokenSecret":
      return ROLES.secretAccessor;
    case "invoke":
      return ROLES.invoker;
  }
}

/** Everything a grant may be made on. */
interface GrantTargets {
  readonly topics: Topics;
  readonly bucket: gcp.storage.Bucket;
  readonly database: gcp.firestore.Database;
  readonly tokenSecret: TokenSecret;
  readonly workers: WorkerFunctions;
  readonly subscriptions: DeployedSubscriptions;
  readonly region: string;
}

/** One IAM member for one permission of one principal. */
function grant(
  resources: EnvironmentResources,
  { principal, permission }: PermissionOf,
  member: pulumi.Input<string>,
  targets: Partial<GrantTargets>,
  opts: pulumi.CustomResourceOptions,
): pulumi.Resource {
  const who = principal === "pubsubAgent" ? "pubsub-agent" : principal;
  const name = (...parts: string[]) => logicalName(resources, who, ...parts);
  const need = <K extends keyof GrantTargets>(key: K): GrantTargets[K] => {
    const value = targets[key];
    if (value === undefined) throw new Error(`granting ${permission.kind} needs ${key}`);
    return value as GrantTargets[K];
  };
  const project = resources.projectId;
  const role = roleOf(permission);
  switch (permission.kind) {
    case "publish":
      return new gcp.pubsub.TopicIAMMember(
        name("publishes", permission.topic),
        { project, topic: need("topics")[permission.topic].name, role, member },
        opts,
      );
    case "subscribe": {
      const subscription = need("subscriptions").get(permission.subscription);
      if (subscription === undefined) throw new Error(`no subscription ${permission.subscription} to grant on`);
      return new gcp.pubsub.SubscriptionIAMMember(
        name("subscribes", permission.subscription),
        { project, subscription: subscription.name, role, member },
        opts,
      );
    }
    case "bucket":
      return new gcp.storage.BucketIAMMember(
        name("objects", permission.level),
        { bucket: need("bucket").name, role, member },
        opts,
      );
    case "database":
      return new gcp.projects.IAMMember(
        name("database", permission.level),
        { project, role, member, condition: databaseOnlyCondition(need("database")) },
        opts,
      );
    case "tokenSecret":
      return new gcp.secretmanager.SecretIamMember(
        name("token-secret"),
        { project, secretId: need("tokenSecret").secret.secretId, role, member },
        opts,
      );
    case "invoke": {
      const worker = need("workers").find((w) => w.spec.function === permission.function);
      if (worker === undefined) throw new Error(`no function ${permission.function} to grant invocation on`);
      return new gcp.cloudrunv2.ServiceIamMember(
        name("invokes", permission.function),
        // A 2nd-gen function is served by the Cloud Run service of the same name.
        { project, location: need("region"), name: worker.function.name, role, member },
        opts,
      );
    }
  }
}

export type Grants = Readonly<Record<Component, readonly pulumi.Resource[]>>;

const DATA_KINDS: ReadonlySet<Permission["kind"]> = new Set(["publish", "bucket", "database", "tokenSecret"]);

/** Topic, bucket, database and secret access of every component. */
export function grantDataAccess(
  resources: EnvironmentResources,
  deps: {
    readonly accounts: ServiceAccounts;
    readonly topics: Topics;
    readonly bucket: gcp.storage.Bucket;
    readonly database: gcp.firestore.Database;
    readonly tokenSecret: TokenSecret;
    readonly pipeline?: Pipeline;
  },
  opts: pulumi.CustomResourceOptions,
): Grants {
  const permissions = permissionsOf(deps.pipeline ?? PIPELINE).filter((p) => DATA_KINDS.has(p.permission.kind));
  const grantsOf = (component: Component): pulumi.Resource[] =>
    permissions
      .filter((p) => p.principal === component)
      .map((p) => grant(resources, p, deps.accounts[component].member, deps, opts));
  return {
    ingress: grantsOf("ingress"),
    persistAudio: grantsOf("persistAudio"),
    events: grantsOf("events"),
    extractSpeakers: grantsOf("extractSpeakers"),
    api: grantsOf("api"),
    deletion: grantsOf("deletion"),
  };
}

/** Each worker's identity may invoke its own function, and no other. */
export function grantPushInvocation(
  resources: EnvironmentResources,
  deps: {
    readonly accounts: ServiceAccounts;
    readonly workers: WorkerFunctions;
    readonly region: string;
    readonly pipeline?: Pipeline;
  },
  opts: pulumi.CustomResourceOptions,
): pulumi.Resource[] {
  return permissionsOf(deps.pipeline ?? PIPELINE)
    .filter((p) => p.permission.kind === "invoke")
    .map((p) => grant(resources, p, deps.accounts[p.principal as Component].member, deps, opts));
}

/**
 * Dead-lettering by Pub/Sub itself: where a subscription has a dead-letter policy, the
 * Pub/Sub service agent forwards to the dead-letter topic and acks the original. With no
 * such policy declared, this grants nothing.
 */
export function grantDeadLettering(
  resources: EnvironmentResources,
  deps: {
    readonly agent: gcp.projects.ServiceIdentity;
    readonly topics: Topics;
    readonly subscriptions: DeployedSubscriptions;
    readonly pipeline?: Pipeline;
  },
  opts: pulumi.CustomResourceOptions,
): pulumi.Resource[] {
  return permissionsOf(deps.pipeline ?? PIPELINE)
    .filter((p) => p.principal === "pubsubAgent")
    .map((p) => grant(resources, p, deps.agent.member, deps, opts));
}
