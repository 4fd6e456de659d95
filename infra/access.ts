/**
 * Who may do what: every IAM grant of an environment, on that environment's resources.
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
import { databaseOnlyCondition } from "./database";
import type { Component, ServiceAccounts } from "./identity";
import { logicalName } from "./names";
import type { TokenSecret } from "./secrets";
import type { WorkerSubscriptions } from "./subscriptions";
import type { TopicKey, Topics } from "./topics";
import { WORKER_KEYS, type WorkerFunctions } from "./workers";

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

export interface ComponentAccess {
  /** Topics the component publishes to. */
  readonly publishes: readonly TopicKey[];
  readonly objects: "none" | "read" | "readWrite";
  readonly database: "read" | "readWrite";
  /** Reads the token-signing key (verifies client tokens, signs resume tokens). */
  readonly tokenSecret: boolean;
}

/** What each component needs, and nothing more. */
export const COMPONENT_ACCESS: Readonly<Record<Component, ComponentAccess>> = {
  ingress: { publishes: ["audio", "events"], objects: "none", database: "readWrite", tokenSecret: true },
  persistAudio: { publishes: ["deadLetter"], objects: "readWrite", database: "readWrite", tokenSecret: false },
  events: { publishes: ["extraction", "deadLetter"], objects: "none", database: "readWrite", tokenSecret: false },
  extractSpeakers: { publishes: ["deadLetter"], objects: "readWrite", database: "readWrite", tokenSecret: false },
  api: { publishes: [], objects: "read", database: "read", tokenSecret: true },
};

export type Grants = Readonly<Record<Component, readonly pulumi.Resource[]>>;

/** Topic, bucket, database and secret access of every component. */
export function grantDataAccess(
  resources: EnvironmentResources,
  deps: {
    readonly accounts: ServiceAccounts;
    readonly topics: Topics;
    readonly bucket: gcp.storage.Bucket;
    readonly database: gcp.firestore.Database;
    readonly tokenSecret: TokenSecret;
  },
  opts: pulumi.CustomResourceOptions,
): Grants {
  const databaseCondition = databaseOnlyCondition(deps.database);
  const grantsOf = (component: Component): pulumi.Resource[] => {
    const access = COMPONENT_ACCESS[component];
    const member = deps.accounts[component].member;
    const name = (...parts: string[]) => logicalName(resources, component, ...parts);
    const grants: pulumi.Resource[] = access.publishes.map(
      (topic) =>
        new gcp.pubsub.TopicIAMMember(
          name("publishes", topic),
          { project: resources.projectId, topic: deps.topics[topic].name, role: ROLES.publisher, member },
          opts,
        ),
    );
    if (access.objects !== "none") {
      grants.push(
        new gcp.storage.BucketIAMMember(
          name("objects", access.objects),
          {
            bucket: deps.bucket.name,
            role: access.objects === "readWrite" ? ROLES.objectUser : ROLES.objectViewer,
            member,
          },
          opts,
        ),
      );
    }
    grants.push(
      new gcp.projects.IAMMember(
        name("database", access.database),
        {
          project: resources.projectId,
          role: access.database === "readWrite" ? ROLES.databaseUser : ROLES.databaseViewer,
          member,
          condition: databaseCondition,
        },
        opts,
      ),
    );
    if (access.tokenSecret) {
      grants.push(
        new gcp.secretmanager.SecretIamMember(
          name("token-secret"),
          {
            project: resources.projectId,
            secretId: deps.tokenSecret.secret.secretId,
            role: ROLES.secretAccessor,
            member,
          },
          opts,
        ),
      );
    }
    return grants;
  };
  return {
    ingress: grantsOf("ingress"),
    persistAudio: grantsOf("persistAudio"),
    events: grantsOf("events"),
    extractSpeakers: grantsOf("extractSpeakers"),
    api: grantsOf("api"),
  };
}

/** Each worker's identity may invoke its own function, and no other. */
export function grantPushInvocation(
  resources: EnvironmentResources,
  deps: { readonly accounts: ServiceAccounts; readonly workers: WorkerFunctions; readonly region: string },
  opts: pulumi.CustomResourceOptions,
): pulumi.Resource[] {
  return WORKER_KEYS.map((key) => {
    const { spec, function: fn } = deps.workers[key];
    return new gcp.cloudrunv2.ServiceIamMember(
      logicalName(resources, spec.account, "invokes", spec.function),
      {
        project: resources.projectId,
        location: deps.region,
        // A 2nd-gen function is served by the Cloud Run service of the same name.
        name: fn.name,
        role: ROLES.invoker,
        member: deps.accounts[spec.account].member,
      },
      opts,
    );
  });
}

/** Dead-lettering: the Pub/Sub service agent forwards to the dead-letter topic and acks the original. */
export function grantDeadLettering(
  resources: EnvironmentResources,
  deps: {
    readonly agent: gcp.projects.ServiceIdentity;
    readonly topics: Topics;
    readonly subscriptions: WorkerSubscriptions;
  },
  opts: pulumi.CustomResourceOptions,
): pulumi.Resource[] {
  const member = deps.agent.member;
  return [
    new gcp.pubsub.TopicIAMMember(
      logicalName(resources, "pubsub-agent", "publishes", "deadLetter"),
      { project: resources.projectId, topic: deps.topics.deadLetter.name, role: ROLES.publisher, member },
      opts,
    ),
    ...WORKER_KEYS.map(
      (key) =>
        new gcp.pubsub.SubscriptionIAMMember(
          logicalName(resources, "pubsub-agent", "subscribes", key),
          {
            project: resources.projectId,
            subscription: deps.subscriptions[key].name,
            role: ROLES.subscriber,
            member,
          },
          opts,
        ),
    ),
  ];
}
