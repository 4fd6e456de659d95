/**
 * The Pub/Sub workers as Cloud Functions (2nd gen, nodejs22), built from this repository.
 *
 * Each function is an HTTP-served CloudEvent function with no Eventarc trigger: its
 * subscription (subscriptions.ts) pushes to it. The functions framework turns a Pub/Sub push
 * into a `messagePublished` CloudEvent when the push path names the topic, which is why the
 * push endpoint ends in `/projects/<project>/topics/<topic>`.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import type { DeployableSettings } from "./deployable-settings";
import type { UploadedFunctionSource } from "./function-source";
import type { Component, ServiceAccounts } from "./identity";
import { type DeployableNames, logicalName } from "./names";

export const FUNCTIONS_RUNTIME = "nodejs22";

export interface WorkerSpec {
  /** The functions-framework target exported by functions/index.ts. */
  readonly entryPoint: string;
  readonly function: keyof DeployableNames["functions"];
  readonly topic: keyof EnvironmentResources["topics"];
  readonly subscription: keyof EnvironmentResources["subscriptions"];
  /** The account the function runs as, which is also the identity its pushes carry. */
  readonly account: Component;
  /** Deliver messages of one ordering key (a conversation) one at a time, in order. */
  readonly ordered: boolean;
  readonly memory: string;
  /** Also the subscription's ack deadline, so Pub/Sub waits as long as the function may run. */
  readonly timeoutSeconds: number;
  readonly maxInstances: number;
}

export type WorkerKey = "persistAudio" | "processEvents" | "extractSpeakers";

export const WORKER_SPECS: Readonly<Record<WorkerKey, WorkerSpec>> = {
  persistAudio: {
    entryPoint: "persistAudio",
    function: "persistAudio",
    topic: "audio",
    subscription: "persistAudio",
    account: "persistAudio",
    ordered: true,
    memory: "512Mi",
    timeoutSeconds: 300,
    maxInstances: 50,
  },
  processEvents: {
    entryPoint: "processEvents",
    function: "processEvents",
    topic: "events",
    subscription: "events",
    account: "events",
    ordered: false,
    memory: "512Mi",
    timeoutSeconds: 300,
    maxInstances: 20,
  },
  extractSpeakers: {
    entryPoint: "extractSpeakers",
    function: "extractSpeakers",
    topic: "extraction",
    subscription: "extractSpeakers",
    account: "extractSpeakers",
    ordered: false,
    memory: "2Gi",
    timeoutSeconds: 540,
    maxInstances: 10,
  },
};

export const WORKER_KEYS = Object.keys(WORKER_SPECS) as WorkerKey[];

export interface WorkerFunction {
  readonly spec: WorkerSpec;
  readonly function: gcp.cloudfunctionsv2.Function;
  /** The function's run.app URL: push endpoint base and OIDC audience. */
  readonly uri: pulumi.Output<string>;
}

export type WorkerFunctions = Readonly<Record<WorkerKey, WorkerFunction>>;

export function workerFunctions(
  resources: EnvironmentResources,
  names: DeployableNames,
  deps: {
    readonly region: string;
    readonly accounts: ServiceAccounts;
    readonly source: UploadedFunctionSource;
    readonly settings: DeployableSettings;
  },
  opts: pulumi.CustomResourceOptions,
): WorkerFunctions {
  const build = (key: WorkerKey): WorkerFunction => {
    const spec = WORKER_SPECS[key];
    const name = names.functions[spec.function];
    const fn = new gcp.cloudfunctionsv2.Function(
      logicalName(resources, "function", spec.function),
      {
        project: resources.projectId,
        location: deps.region,
        name,
        description: `tether ${resources.environment}: ${spec.entryPoint}, pushed from ${resources.subscriptions[spec.subscription]}`,
        buildConfig: {
          runtime: FUNCTIONS_RUNTIME,
          entryPoint: spec.entryPoint,
          source: {
            storageSource: {
              bucket: deps.source.bucket.name,
              object: deps.source.object.name,
              generation: deps.source.object.generation,
            },
          },
          // The archive is already built: the buildpack must not run `npm run build` (its
          // TypeScript sources are not in the archive) nor install dev dependencies.
          environmentVariables: { GOOGLE_NODE_RUN_SCRIPTS: "", NODE_ENV: "production" },
        },
        serviceConfig: {
          serviceAccountEmail: deps.accounts[spec.account].email,
          environmentVariables: deps.settings,
          // Pub/Sub push from the same project counts as internal traffic.
          ingressSettings: "ALLOW_INTERNAL_ONLY",
          availableMemory: spec.memory,
          timeoutSeconds: spec.timeoutSeconds,
          minInstanceCount: 0,
          maxInstanceCount: spec.maxInstances,
          allTrafficOnLatestRevision: true,
        },
      },
      opts,
    );
    const uri = fn.serviceConfig.apply((config) => {
      if (config?.uri === undefined || config.uri === "") {
        throw new Error(`Cloud Function ${name} reported no URI; its subscription cannot push to it`);
      }
      return config.uri;
    });
    return { spec, function: fn, uri };
  };
  return {
    persistAudio: build("persistAudio"),
    processEvents: build("processEvents"),
    extractSpeakers: build("extractSpeakers"),
  };
}
