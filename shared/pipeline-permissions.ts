/**
 * What the pipeline declaration (./pipeline.ts) grants: each component's access, each
 * worker's invocation of its own function, and the Pub/Sub service agent's part in
 * dead-lettering. Pure functions of a declaration; infra/access.ts turns each permission
 * into an IAM member.
 */
import {
  type Access,
  type AccessLevel,
  type ComponentDeclaration,
  type ComponentKey,
  type FunctionKey,
  type Pipeline,
  type SubscriptionKey,
  subscriptionSettings,
  type TopicKey,
  workersOf,
} from "./pipeline";

/**
 * One permission a principal needs, named by what it is for. `infra/access.ts` turns each
 * into an IAM member; a test compares the Pulumi program's grants with this list.
 */
export type Permission =
  | { readonly kind: "publish"; readonly topic: TopicKey }
  | { readonly kind: "subscribe"; readonly subscription: SubscriptionKey }
  | { readonly kind: "bucket"; readonly level: Exclude<AccessLevel, "none"> }
  | { readonly kind: "database"; readonly level: Exclude<AccessLevel, "none"> }
  | { readonly kind: "tokenSecret" }
  | { readonly kind: "invoke"; readonly function: FunctionKey };

export interface PermissionOf {
  /** A component's own service account, or the project's Pub/Sub service agent. */
  readonly principal: ComponentKey | "pubsubAgent";
  readonly permission: Permission;
}

/** What a component's code does, as permissions: publishes, bucket, database, token key. */
function dataPermissions(access: Access): Permission[] {
  return [
    ...access.publishes.map((topic): Permission => ({ kind: "publish", topic })),
    ...(access.bucket === "none" ? [] : [{ kind: "bucket", level: access.bucket } as const]),
    ...(access.database === "none" ? [] : [{ kind: "database", level: access.database } as const]),
    ...(access.tokenSecret ? [{ kind: "tokenSecret" } as const] : []),
  ];
}

/**
 * Every permission of an environment, derived from the declaration:
 * - each component: what it publishes, reads and writes;
 * - each worker's account: invoking its own function (a push carries that identity);
 * - the Pub/Sub service agent, only where a subscription has a dead-letter policy: publish
 *   to that dead-letter topic and acknowledge on that subscription.
 */
export function permissionsOf(pipeline: Pipeline): PermissionOf[] {
  const components = Object.entries(pipeline.components) as [ComponentKey, ComponentDeclaration][];
  const own = components.flatMap(([principal, declaration]) =>
    dataPermissions(declaration).map((permission) => ({ principal, permission })),
  );
  const invokes = workersOf(pipeline).map(
    (worker): PermissionOf => ({
      principal: worker.component,
      permission: { kind: "invoke", function: worker.function },
    }),
  );
  const deadLettering = subscriptionSettings(pipeline, "deployed").filter((s) => s.deadLetter !== undefined);
  const agentTopics = [...new Set(deadLettering.map((s) => s.deadLetter?.topic as TopicKey))];
  const agent: PermissionOf[] = [
    ...agentTopics.map((topic): PermissionOf => ({ principal: "pubsubAgent", permission: { kind: "publish", topic } })),
    ...deadLettering.map(
      (s): PermissionOf => ({ principal: "pubsubAgent", permission: { kind: "subscribe", subscription: s.key } }),
    ),
  ];
  return [...own, ...invokes, ...agent];
}

/** A stable, readable name for a permission, e.g. `persistAudio publish extraction`. */
export function describePermission({ principal, permission }: PermissionOf): string {
  switch (permission.kind) {
    case "publish":
      return `${principal} publish ${permission.topic}`;
    case "subscribe":
      return `${principal} subscribe ${permission.subscription}`;
    case "bucket":
    case "database":
      return `${principal} ${permission.kind} ${permission.level}`;
    case "tokenSecret":
      return `${principal} tokenSecret`;
    case "invoke":
      return `${principal} invoke ${permission.function}`;
  }
}
