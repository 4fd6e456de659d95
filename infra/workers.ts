/**
 * The Pub/Sub workers as Cloud Functions (2nd gen, nodejs22), built from this repository.
 *
 * Which workers exist, their entry points, accounts and subscriptions come from the
 * pipeline declaration (shared/pipeline.ts); this file adds only how each is sized.
 *
 * Each function is an HTTP-served CloudEvent function with no Eventarc trigger: its
 * subscription (subscriptions.ts) pushes to it. The functions framework turns a Pub/Sub push
 * into a `messagePublished` CloudEvent when the push path names the topic, which is why the
 * push endpoint ends in `/projects/<project>/topics/<topic>`.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import { type FunctionKey, PIPELINE, type Pipeline, type WorkerView, workersOf } from "../shared/pipeline";
import type { FunctionBuilds } from "./build";
import type { DeployableSettings } from "./deployable-settings";
import type { UploadedFunctionSource } from "./function-source";
import type { Component, ServiceAccounts } from "./identity";
import { type DeployableNames, logicalName } from "./names";

export const FUNCTIONS_RUNTIME = "nodejs22";

/** How a worker's function is sized: infra's own concern, not the pipeline's. */
export interface WorkerSizing {
  readonly memory: string;
  readonly maxInstances: number;
}

export const WORKER_SIZING: Readonly<Record<FunctionKey, WorkerSizing>> = {
  persistAudio: { memory: "512Mi", maxInstances: 50 },
  processEvents: { memory: "512Mi", maxInstances: 20 },
  extractSpeakers: { memory: "2Gi", maxInstances: 10 },
  deleteData: { memory: "512Mi", maxInstances: 5 },
};

export interface WorkerSpec extends WorkerSizing {
  /** The functions-framework target exported by functions/index.ts. */
  readonly entryPoint: string;
  readonly function: FunctionKey;
  readonly topic: WorkerView["topic"];
  readonly subscription: WorkerView["subscription"];
  /** The account the function runs as, which is also the identity its pushes carry. */
  readonly account: Component;
  /** The subscription's ack deadline: Pub/Sub waits as long as the function may run. */
  readonly timeoutSeconds: number;
}

export function workerSpecs(pipeline: Pipeline): WorkerSpec[] {
  return workersOf(pipeline).map((worker) => ({
    entryPoint: worker.entryPoint,
    function: worker.function,
    topic: worker.topic,
    subscription: worker.subscription,
    account: worker.component,
    timeoutSeconds: worker.delivery.ackDeadlineSeconds,
    ...WORKER_SIZING[worker.function],
  }));
}

/** The workers as deployed from the pipeline declaration. */
export const WORKER_SPECS: readonly WorkerSpec[] = workerSpecs(PIPELINE);

export interface WorkerFunction {
  readonly spec: WorkerSpec;
  readonly function: gcp.cloudfunctionsv2.Function;
  /** The function's run.app URL: push endpoint base and OIDC audience. */
  readonly uri: pulumi.Output<string>;
}

export type WorkerFunctions = readonly WorkerFunction[];

export function workerFunctions(
  resources: EnvironmentResources,
  names: DeployableNames,
  deps: {
    readonly region: string;
    readonly accounts: ServiceAccounts;
    readonly source: UploadedFunctionSource;
    readonly builds: FunctionBuilds;
    readonly settings: DeployableSettings;
    readonly pipeline?: Pipeline;
  },
  opts: pulumi.CustomResourceOptions,
): WorkerFunctions {
  const build = (spec: WorkerSpec): WorkerFunction => {
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
          // Its own least-privilege build account, and the environment's image repository (build.ts).
          serviceAccount: deps.builds.accounts[spec.function].name,
          dockerRepository: deps.builds.repository.id,
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
  return workerSpecs(deps.pipeline ?? PIPELINE).map(build);
}
