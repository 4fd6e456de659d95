/**
 * Reading a recorded Pulumi program: which environment each resource belongs to, what
 * each IAM grant gives to whom on what, and which names are physically taken.
 *
 * Pure functions over `RecordedResource[]`, so the isolation rules can be tested against
 * deliberately broken recordings as well as the real program.
 */
import { type EnvironmentResources, environmentResources, parseEnvironmentName } from "../../../shared/environment";
import { PROVIDER_TYPE, type RecordedResource } from "./recording-mocks";

export const TYPES = {
  account: "gcp:serviceaccount/account:Account",
  serviceIdentity: "gcp:projects/serviceIdentity:ServiceIdentity",
  topic: "gcp:pubsub/topic:Topic",
  subscription: "gcp:pubsub/subscription:Subscription",
  bucket: "gcp:storage/bucket:Bucket",
  bucketObject: "gcp:storage/bucketObject:BucketObject",
  database: "gcp:firestore/database:Database",
  secret: "gcp:secretmanager/secret:Secret",
  secretVersion: "gcp:secretmanager/secretVersion:SecretVersion",
  function: "gcp:cloudfunctionsv2/function:Function",
  runService: "gcp:cloudrunv2/service:Service",
  repository: "gcp:artifactregistry/repository:Repository",
  firestoreIndex: "gcp:firestore/index:Index",
  projectService: "gcp:projects/service:Service",
  topicIam: "gcp:pubsub/topicIAMMember:TopicIAMMember",
  subscriptionIam: "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
  bucketIam: "gcp:storage/bucketIAMMember:BucketIAMMember",
  secretIam: "gcp:secretmanager/secretIamMember:SecretIamMember",
  runServiceIam: "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
  projectIam: "gcp:projects/iAMMember:IAMMember",
  repositoryIam: "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
  /** The retention run (infra/lifecycle-jobs.ts), where the stack sets a retention period. */
  schedulerJob: "gcp:cloudscheduler/job:Job",
} as const;

const IAM_TYPES: ReadonlySet<string> = new Set([
  TYPES.topicIam,
  TYPES.subscriptionIam,
  TYPES.bucketIam,
  TYPES.secretIam,
  TYPES.runServiceIam,
  TYPES.projectIam,
  TYPES.repositoryIam,
]);

/** Any resource type that edits an IAM policy, known to this file or not. */
export function isIamType(type: string): boolean {
  return /iam/i.test(type.split(":").pop() ?? "") || IAM_TYPES.has(type);
}

export function str(record: RecordedResource, key: string, source: "inputs" | "state" = "inputs"): string {
  const value = record[source][key];
  if (typeof value !== "string") {
    throw new Error(`${record.type} ${record.name}: ${source}.${key} is ${JSON.stringify(value)}, not a string`);
  }
  return value;
}

export function obj(value: unknown): Record<string, unknown> {
  if (typeof value === "string") return obj(JSON.parse(value));
  if (value === null || typeof value !== "object") throw new Error(`not an object: ${JSON.stringify(value)}`);
  return value as Record<string, unknown>;
}

/** One environment's share of a recording: its provider and what was created through it. */
export interface EnvironmentRecording {
  readonly names: EnvironmentResources;
  readonly region: string;
  readonly provider: RecordedResource;
  /** Custom resources created through the environment's provider. */
  readonly resources: readonly RecordedResource[];
}

function providerIdOf(reference: string | undefined): string | undefined {
  return reference?.split("::").pop();
}

/**
 * Splits a recording by provider. Each environment has exactly one gcp provider, labelled
 * with its environment; a custom resource belongs to the environment whose provider made it.
 */
export function splitByEnvironment(records: readonly RecordedResource[]): Map<string, EnvironmentRecording> {
  const result = new Map<string, EnvironmentRecording>();
  for (const provider of records.filter((r) => r.type === PROVIDER_TYPE)) {
    const labels = obj(provider.inputs.defaultLabels);
    const environment = parseEnvironmentName(String(labels["tether-environment"]));
    if (result.has(environment)) throw new Error(`two providers for environment ${environment}`);
    result.set(environment, {
      names: environmentResources(environment, str(provider, "project")),
      region: str(provider, "region"),
      provider,
      resources: records.filter(
        (r) => r.custom && r.type !== PROVIDER_TYPE && providerIdOf(r.provider) === provider.id,
      ),
    });
  }
  return result;
}

/** Custom resources that no environment's provider created (must be none). */
export function orphans(records: readonly RecordedResource[]): RecordedResource[] {
  const providerIds = new Set(records.filter((r) => r.type === PROVIDER_TYPE).map((r) => r.id));
  return records.filter(
    (r) => r.custom && r.type !== PROVIDER_TYPE && !providerIds.has(providerIdOf(r.provider) ?? ""),
  );
}

export function ofType(recording: EnvironmentRecording, type: string): RecordedResource[] {
  return recording.resources.filter((r) => r.type === type);
}

export function one(recording: EnvironmentRecording, type: string, predicate: (r: RecordedResource) => boolean) {
  const found = ofType(recording, type).filter(predicate);
  if (found.length !== 1) throw new Error(`expected one ${type} matching, found ${found.length}`);
  return found[0] as RecordedResource;
}

/**
 * The physical identity of a named resource: what Google Cloud would refuse to create
 * twice. Cloud Functions (2nd gen) and Cloud Run services share one namespace, since each
 * function is served by a Cloud Run service of its own name. Bucket names are global.
 */
export function physicalIdentity(record: RecordedResource): string | undefined {
  const project = record.inputs.project;
  switch (record.type) {
    case TYPES.bucket:
      return `bucket ${str(record, "name")}`;
    case TYPES.bucketObject:
      return `object ${str(record, "bucket")}/${str(record, "name")}`;
    case TYPES.topic:
      return `topic ${project}/${str(record, "name")}`;
    case TYPES.subscription:
      return `subscription ${project}/${str(record, "name")}`;
    case TYPES.account:
      return `service account ${project}/${str(record, "accountId")}`;
    case TYPES.database:
      return `database ${project}/${str(record, "name")}`;
    case TYPES.secret:
      return `secret ${project}/${str(record, "secretId")}`;
    case TYPES.function:
    case TYPES.runService:
      return `run service ${project}/${str(record, "location")}/${str(record, "name")}`;
    case TYPES.repository:
      return `repository ${project}/${str(record, "location")}/${str(record, "repositoryId")}`;
    default:
      return undefined;
  }
}

/** Identities (physical, or Pulumi type + logical name) that occur more than once. */
export function collisions(records: readonly RecordedResource[]): string[] {
  const seen = new Map<string, number>();
  for (const record of records) {
    const keys = [`logical ${record.type}::${record.name}`];
    const physical = physicalIdentity(record);
    if (physical !== undefined) keys.push(physical);
    for (const key of keys) seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return [...seen].filter(([, count]) => count > 1).map(([key, count]) => `${key} (${count} times)`);
}

/** A normalised IAM grant. */
export interface Grant {
  readonly record: RecordedResource;
  readonly role: string;
  readonly member: string;
  /** Canonical resource name of what is granted on. */
  readonly target: string;
  readonly condition: { readonly title: string; readonly expression: string } | undefined;
}

const full = (prefix: string, value: string) => (value.startsWith("projects/") ? value : `${prefix}/${value}`);

export function grantOf(record: RecordedResource): Grant {
  const project = String(record.inputs.project);
  const role = str(record, "role");
  const member = str(record, "member");
  const condition = record.inputs.condition === undefined ? undefined : obj(record.inputs.condition);
  const normalisedCondition =
    condition === undefined ? undefined : { title: String(condition.title), expression: String(condition.expression) };
  const target = (() => {
    switch (record.type) {
      case TYPES.topicIam:
        return full(`projects/${project}/topics`, str(record, "topic"));
      case TYPES.subscriptionIam:
        return full(`projects/${project}/subscriptions`, str(record, "subscription"));
      case TYPES.bucketIam:
        return `buckets/${str(record, "bucket")}`;
      case TYPES.secretIam:
        return full(`projects/${project}/secrets`, str(record, "secretId"));
      case TYPES.runServiceIam:
        return full(`projects/${project}/locations/${str(record, "location")}/services`, str(record, "name"));
      case TYPES.projectIam:
        return `projects/${project}`;
      case TYPES.repositoryIam:
        return full(`projects/${project}/locations/${str(record, "location")}/repositories`, str(record, "repository"));
      default:
        throw new Error(`unknown IAM resource type ${record.type} (${record.name})`);
    }
  })();
  return { record, role, member, target, condition: normalisedCondition };
}

export function grants(recording: EnvironmentRecording): Grant[] {
  return recording.resources.filter((r) => isIamType(r.type)).map(grantOf);
}

/** Canonical names of everything an environment created that a grant could target. */
export function ownTargets(recording: EnvironmentRecording): Set<string> {
  const targets = new Set<string>();
  for (const record of recording.resources) {
    switch (record.type) {
      case TYPES.topic:
      case TYPES.subscription:
      case TYPES.secret:
      case TYPES.function:
      case TYPES.runService:
      case TYPES.repository:
        targets.add(
          record.type === TYPES.function
            ? record.id.replace("/functions/", "/services/") // served by the same-named Cloud Run service
            : record.id,
        );
        break;
      case TYPES.bucket:
        targets.add(`buckets/${str(record, "name")}`);
        break;
    }
  }
  return targets;
}

export function accountMembers(recording: EnvironmentRecording): Set<string> {
  return new Set(ofType(recording, TYPES.account).map((r) => str(r, "member", "state")));
}

export function pubsubAgentMember(recording: EnvironmentRecording): string {
  const agent = one(recording, TYPES.serviceIdentity, (r) => r.inputs.service === "pubsub.googleapis.com");
  return str(agent, "member", "state");
}

const PUBLIC_MEMBERS = /^(allUsers|allAuthenticatedUsers)$|^(user|group|domain|principalSet|principal):/;

/**
 * Every way a recording breaks the isolation rules for one environment:
 * - a grant to anyone but the environment's own accounts (or the project's Pub/Sub agent,
 *   only as dead-lettering needs it), or to the public;
 * - a grant on anything but the environment's own topics, subscriptions, buckets, secret,
 *   services and image repository; on the project only for Firestore, conditioned on the
 *   environment's database, and Logs Writer for its function builds (infra/build.ts);
 * - any input that names a resource or account of another environment.
 */
export function isolationViolations(
  recording: EnvironmentRecording,
  others: readonly EnvironmentRecording[],
): string[] {
  const violations: string[] = [];
  const { names } = recording;
  const members = accountMembers(recording);
  const agent = pubsubAgentMember(recording);
  const targets = ownTargets(recording);
  const deadLetterTopic = `projects/${names.projectId}/topics/${names.topics.deadLetter}`;
  const workerSubscriptions = new Set(
    [names.subscriptions.persistAudio, names.subscriptions.events, names.subscriptions.extractSpeakers].map(
      (s) => `projects/${names.projectId}/subscriptions/${s}`,
    ),
  );
  const databaseOnly = `resource.name == "projects/${names.projectId}/databases/${names.databaseId}"`;
  const buildMembers = new Set(
    Object.values(names.deployables.buildServiceAccounts).map(
      (id) => `serviceAccount:${id}@${names.projectId}.iam.gserviceaccount.com`,
    ),
  );

  for (const grant of grants(recording)) {
    const where = `${names.environment}: ${grant.record.name} grants ${grant.role} to ${grant.member} on ${grant.target}`;
    if (PUBLIC_MEMBERS.test(grant.member)) violations.push(`${where}: a public or personal member`);
    const isAgentGrant =
      grant.member === agent &&
      ((grant.role === "roles/pubsub.publisher" && grant.target === deadLetterTopic) ||
        (grant.role === "roles/pubsub.subscriber" && workerSubscriptions.has(grant.target)));
    if (!members.has(grant.member) && !isAgentGrant) {
      violations.push(`${where}: the member is not an account of ${names.environment}`);
    }
    if (grant.target === `projects/${names.projectId}`) {
      const firestoreRole = grant.role === "roles/datastore.user" || grant.role === "roles/datastore.viewer";
      const buildLogs =
        grant.role === "roles/logging.logWriter" && buildMembers.has(grant.member) && grant.condition === undefined;
      if (!buildLogs && (!firestoreRole || grant.condition?.expression !== databaseOnly)) {
        violations.push(
          `${where}: a project-wide grant (only Firestore roles conditioned on ${databaseOnly}, and Logs Writer for builds, are allowed)`,
        );
      }
    } else if (!targets.has(grant.target)) {
      violations.push(`${where}: the target is not a resource of ${names.environment}`);
    } else if (grant.condition !== undefined) {
      violations.push(`${where}: unexpected condition`);
    }
  }

  for (const other of others) {
    const foreign = foreignMarkers(other, recording);
    for (const record of recording.resources) {
      const serialised = JSON.stringify(record.inputs);
      for (const marker of foreign) {
        if (serialised.includes(marker)) {
          violations.push(
            `${names.environment}: ${record.type} ${record.name} refers to ${other.names.environment}'s ${marker}`,
          );
        }
      }
    }
  }
  return violations;
}

/**
 * Strings that only `other` may use: its resource names, ids and account emails. What two
 * environments of one project legitimately share (the project id, the Pub/Sub agent) is
 * left out.
 */
export function foreignMarkers(other: EnvironmentRecording, self: EnvironmentRecording): string[] {
  const n = other.names;
  const markers = new Set<string>([
    n.bucket,
    n.databaseId,
    n.tokenSecret,
    ...Object.values(n.topics),
    ...Object.values(n.subscriptions),
    ...Object.values(n.serviceAccounts).map((id) => `${id}@`),
  ]);
  for (const record of other.resources) {
    // Source objects are named by content digest: the same build has the same name in
    // every environment's own source bucket.
    if (record.type === TYPES.bucketObject) continue;
    const identity = physicalIdentity(record);
    if (identity !== undefined) markers.add(identity.split(" ").pop()?.split("/").pop() ?? "");
  }
  const shared = new Set([self.names.projectId, pubsubAgentMember(self), ""]);
  return [...markers].filter((marker) => !shared.has(marker));
}
