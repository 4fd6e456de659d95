/**
 * Pulumi mocks that record every registered resource with its resolved inputs, and answer
 * with the outputs Google Cloud would compute (ids, emails, URLs), so the program's wiring
 * (an account's email into a subscription, a function's URL into a push endpoint) can be
 * inspected after the program ran.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

export interface RecordedResource {
  readonly type: string;
  /** Pulumi logical name. */
  readonly name: string;
  readonly custom: boolean;
  readonly inputs: Readonly<Record<string, unknown>>;
  /** `<urn>::<id>` of the provider the resource was created with. */
  readonly provider: string | undefined;
  readonly id: string;
  /** Inputs plus the simulated computed outputs. */
  readonly state: Readonly<Record<string, unknown>>;
  /** Registration options the mocks API leaves out (see `RecordingMocks.recordOptions`). */
  readonly protect: boolean;
  /** Logical names of the resources it waits for: explicit `dependsOn` and its inputs' resources. */
  readonly dependencies: readonly string[];
}

/** What `registerResource` is told beyond the mocks API's arguments. */
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getProtect(): boolean | undefined;
  getDependenciesList(): string[];
}

export const PROVIDER_TYPE = "pulumi:providers:gcp";

function shortHash(text: string, length = 10): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/** A stable fake project number, distinct per project id. */
export function projectNumber(project: string): string {
  return String(Number.parseInt(shortHash(project, 8), 16)).padStart(12, "1");
}

function text(value: unknown, what: string): string {
  if (typeof value !== "string") throw new Error(`mock: expected ${what} to be a string, got ${JSON.stringify(value)}`);
  return value;
}

type Simulated = { id: string; outputs: Record<string, unknown> };

/** How many versions each mocked secret has. */
const secretVersions = new Map<string, number>();

/** Computed outputs per resource type, shaped like the real provider's. */
function simulate(type: string, name: string, inputs: Record<string, unknown>): Simulated {
  const project = typeof inputs.project === "string" ? inputs.project : "mock-project-unset";
  switch (type) {
    case PROVIDER_TYPE:
      return { id: `provider-${name}`, outputs: {} };
    case "gcp:serviceaccount/account:Account": {
      const email = `${text(inputs.accountId, "accountId")}@${project}.iam.gserviceaccount.com`;
      return {
        id: `projects/${project}/serviceAccounts/${email}`,
        outputs: { email, member: `serviceAccount:${email}`, name: `projects/${project}/serviceAccounts/${email}` },
      };
    }
    case "gcp:projects/serviceIdentity:ServiceIdentity": {
      const agent = text(inputs.service, "service").split(".")[0];
      const email = `service-${projectNumber(project)}@gcp-sa-${agent}.iam.gserviceaccount.com`;
      return {
        id: `projects/${project}/services/${inputs.service}`,
        outputs: { email, member: `serviceAccount:${email}` },
      };
    }
    case "gcp:pubsub/topic:Topic":
      return { id: `projects/${project}/topics/${text(inputs.name, "topic name")}`, outputs: {} };
    case "gcp:pubsub/subscription:Subscription":
      return { id: `projects/${project}/subscriptions/${text(inputs.name, "subscription name")}`, outputs: {} };
    case "gcp:storage/bucket:Bucket": {
      const bucket = text(inputs.name, "bucket name");
      return {
        id: bucket,
        outputs: { url: `gs://${bucket}`, selfLink: `https://www.googleapis.com/storage/v1/b/${bucket}` },
      };
    }
    case "gcp:storage/bucketObject:BucketObject":
      return {
        id: `${text(inputs.bucket, "bucket")}-${text(inputs.name, "object name")}`,
        outputs: { generation: 1_700_000_000_000_000, md5hash: shortHash(String(inputs.name)) },
      };
    case "gcp:artifactregistry/repository:Repository": {
      const repository = text(inputs.repositoryId, "repositoryId");
      return {
        id: `projects/${project}/locations/${text(inputs.location, "location")}/repositories/${repository}`,
        outputs: { name: repository },
      };
    }
    case "gcp:firestore/database:Database":
      return { id: `projects/${project}/databases/${text(inputs.name, "database name")}`, outputs: {} };
    case "gcp:secretmanager/secret:Secret": {
      const id = `projects/${project}/secrets/${text(inputs.secretId, "secretId")}`;
      return { id, outputs: { name: id } };
    }
    case "gcp:secretmanager/secretVersion:SecretVersion": {
      // Secret Manager numbers a secret's versions 1, 2, ... in the order they are added.
      const secret = text(inputs.secret, "secret");
      const version = String((secretVersions.get(secret) ?? 0) + 1);
      secretVersions.set(secret, Number(version));
      const id = `${secret}/versions/${version}`;
      return { id, outputs: { name: id, version } };
    }
    case "gcp:cloudfunctionsv2/function:Function": {
      const fn = text(inputs.name, "function name");
      const location = text(inputs.location, "location");
      const serviceConfig = (inputs.serviceConfig ?? {}) as Record<string, unknown>;
      return {
        id: `projects/${project}/locations/${location}/functions/${fn}`,
        outputs: {
          url: `https://${location}-${project}.cloudfunctions.net/${fn}`,
          serviceConfig: {
            ...serviceConfig,
            uri: `https://${fn}-${shortHash(project)}-ew.a.run.app`,
            service: `projects/${project}/locations/${location}/services/${fn}`,
          },
        },
      };
    }
    case "gcp:monitoring/notificationChannel:NotificationChannel": {
      const channel = `projects/${project}/notificationChannels/${shortHash(`${project}/${name}`, 16)}`;
      return { id: channel, outputs: { name: channel } };
    }
    case "gcp:logging/metric:Metric":
      return { id: text(inputs.name, "metric name"), outputs: {} };
    case "gcp:monitoring/alertPolicy:AlertPolicy": {
      const policy = `projects/${project}/alertPolicies/${shortHash(`${project}/${name}`, 16)}`;
      return { id: policy, outputs: { name: policy } };
    }
    case "gcp:monitoring/dashboard:Dashboard":
      return { id: `projects/${project}/dashboards/${shortHash(`${project}/${name}`, 16)}`, outputs: {} };
    case "gcp:cloudrunv2/service:Service": {
      const service = text(inputs.name, "service name");
      return {
        id: `projects/${project}/locations/${text(inputs.location, "location")}/services/${service}`,
        outputs: { uri: `https://${service}-${shortHash(project)}-ew.a.run.app` },
      };
    }
    default:
      return { id: `${name}-id`, outputs: {} };
  }
}

export class RecordingMocks implements pulumi.runtime.Mocks {
  readonly resources: RecordedResource[] = [];
  readonly invokes: string[] = [];
  private readonly options = new Map<string, { protect: boolean; dependencies: string[] }>();

  /**
   * Call after `setMocks`: also records each resource's `protect` and dependencies, which
   * Pulumi's mock monitor does not pass to `newResource`, by wrapping its `registerResource`.
   */
  recordOptions(): void {
    const monitor = pulumi.runtime.getMonitor() as unknown as {
      registerResource(request: RegisterRequest, callback: unknown): unknown;
    };
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (request, callback) => {
      this.options.set(`${request.getType()}::${request.getName()}`, {
        protect: request.getProtect() ?? false,
        dependencies: request.getDependenciesList().map((urn) => urn.split("::").pop() ?? urn),
      });
      return register(request, callback);
    };
  }

  newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    // Inputs arrive deserialised from the wire: a plain JSON-like object.
    const inputs = args.inputs as Record<string, unknown>;
    const { id, outputs } = simulate(args.type, args.name, inputs);
    const state = { ...inputs, ...outputs };
    const options = this.options.get(`${args.type}::${args.name}`) ?? { protect: false, dependencies: [] };
    this.resources.push({
      ...options,
      type: args.type,
      name: args.name,
      custom: args.custom ?? true,
      inputs,
      provider: args.provider,
      id,
      state,
    });
    return { id, state };
  }

  call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
    // The program is meant to need no data-source lookups (no ambient project, no default
    // provider): record and fail any.
    this.invokes.push(args.token);
    throw new Error(`unexpected provider function call ${args.token}`);
  }
}
