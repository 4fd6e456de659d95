/**
 * One tether environment: everything `dev`, `staging` or `prod` consists of, in one
 * component, created through the environment's own provider.
 *
 * Several environments can be built side by side in one program (the isolation tests do),
 * because every name, logical or physical, is derived from the environment's naming
 * (shared/environment.ts) and every resource is parented to its environment.
 *
 * Audio flows through it in this order: ingress -> audio/events topics -> worker
 * subscriptions -> worker functions -> bucket and database -> API.
 */
import * as pulumi from "@pulumi/pulumi";
import { type EnvironmentName, type EnvironmentResources, environmentResources } from "../shared/environment";
import { PIPELINE, type Pipeline } from "../shared/pipeline";
import { grantDataAccess, grantDeadLettering, grantPushInvocation } from "./access";
import { alertPolicies, notificationChannel } from "./alerts";
import { apiService } from "./api";
import { enableApis } from "./apis";
import { backlogAlerts } from "./backlog-alerts";
import { functionBuilds } from "./build";
import {
  type AlertChannel,
  type AudioLifecycle,
  type DeployableTuning,
  FIRST_TOKEN_KEY_ID,
  type StackConfig,
} from "./config";
import { environmentDashboard } from "./dashboard";
import { environmentDatabase, firestoreIndexes } from "./database";
import { deployableSettings } from "./deployable-settings";
import { type FunctionSource, uploadFunctionSource } from "./function-source";
import { pubsubServiceAgent, serviceAccounts } from "./identity";
import { ingressService } from "./ingress";
import { notificationsSubscriber, retentionJob } from "./lifecycle-jobs";
import { logMetrics } from "./monitoring";
import { deployableNames } from "./names";
import { environmentProvider } from "./provider";
import { type TokenKeyInput, tokenSecret } from "./secrets";
import { audioBucket } from "./storage";
import { deadLetterStore, workerSubscriptions } from "./subscriptions";
import { environmentTopics, type TopicKey } from "./topics";
import { workerFunctions } from "./workers";

export const ENVIRONMENT_COMPONENT_TYPE = "tether:index:Environment";

export interface EnvironmentOptions {
  readonly environment: EnvironmentName;
  readonly projectId: string;
  readonly region: string;
  /** Ingress and API container image, built from this repository's Dockerfile. */
  readonly image: string;
  /** Mark it secret (`pulumi.secret`): it lands in Secret Manager and in state, encrypted. */
  readonly tokenSigningKey: pulumi.Input<string>;
  /** The current key's `kid`; default `k1`, the id of a stack's first key. */
  readonly tokenKeyId?: string;
  /** The key being retired during a rotation, with its `kid` (infra/README.md). */
  readonly retiringTokenKey?: TokenKeyInput;
  /** Guard bucket, database and secret against deletion. */
  readonly protect: boolean;
  /** The packed worker source (function-source.ts). */
  readonly functionSource: FunctionSource;
  readonly firestoreLocation: string;
  readonly audioLifecycle: AudioLifecycle;
  readonly ingressScaling: { readonly minInstances: number; readonly maxInstances: number };
  readonly tuning: DeployableTuning;
  /** Where the environment's alert policies notify. */
  readonly alertChannel: AlertChannel;
  /** Deploy the alert policies on log-based metrics (false for a blank project's first `pulumi up`: config.ts). */
  readonly alertPolicies?: boolean;
  /** Conversations are deleted this many days after their last change; unset: kept forever. */
  readonly retentionDays: number | undefined;
  /** The service account (email) that may subscribe to the notifications topic. */
  readonly notificationsSubscriber: string | undefined;
  /** The pipeline to deploy (shared/pipeline.ts); tests pass a changed copy. */
  readonly pipeline?: Pipeline;
}

/** A stack's validated config as the options of its environment: the program and its tests build the same thing. */
export function environmentOptions(config: StackConfig, functionSource: FunctionSource): EnvironmentOptions {
  return {
    environment: config.environment,
    projectId: config.projectId,
    region: config.region,
    image: config.image,
    tokenSigningKey: pulumi.secret(config.tokenSigningKey),
    tokenKeyId: config.tokenKeyId,
    ...(config.retiringTokenKey === undefined
      ? {}
      : {
          retiringTokenKey: { keyId: config.retiringTokenKey.keyId, key: pulumi.secret(config.retiringTokenKey.key) },
        }),
    protect: config.protect,
    functionSource,
    firestoreLocation: config.firestoreLocation,
    audioLifecycle: config.audioLifecycle,
    ingressScaling: config.ingressScaling,
    tuning: config.tuning,
    alertChannel: config.alertChannel,
    alertPolicies: config.alertPolicies,
    retentionDays: config.retentionDays,
    notificationsSubscriber: config.notificationsSubscriber,
  };
}

export class TetherEnvironment extends pulumi.ComponentResource {
  /** The names the code derives for this environment: what the tests hold the resources to. */
  readonly resources: EnvironmentResources;
  /** `wss://<ingress>/v1/listen` */
  readonly ingressUrl: pulumi.Output<string>;
  readonly apiUrl: pulumi.Output<string>;
  readonly bucketName: pulumi.Output<string>;
  readonly databaseName: pulumi.Output<string>;
  readonly topicNames: pulumi.Output<Record<TopicKey, string>>;
  readonly deadLetterSubscription: pulumi.Output<string>;

  constructor(options: EnvironmentOptions, opts?: pulumi.ComponentResourceOptions) {
    super(ENVIRONMENT_COMPONENT_TYPE, options.environment, {}, opts);
    const resources = environmentResources(options.environment, options.projectId);
    const names = deployableNames(resources);
    const pipeline = options.pipeline ?? PIPELINE;
    this.resources = resources;

    const provider = environmentProvider(resources, options.region, { parent: this });
    // Everything waits for the APIs it needs (apis.ts), so a blank project deploys.
    const apis = enableApis(resources, { parent: this, provider });
    const child: pulumi.CustomResourceOptions = { parent: this, provider, dependsOn: apis };
    const after = (...dependsOn: pulumi.Resource[]): pulumi.CustomResourceOptions => ({
      ...child,
      dependsOn: [...apis, ...dependsOn],
    });
    // Prod's messaging is protected like its data: deleting a topic or subscription loses what it holds.
    const messaging = { ...child, protect: options.protect };

    const accounts = serviceAccounts(resources, child);
    const agent = pubsubServiceAgent(resources, child);
    const topics = environmentTopics(resources, messaging);
    const bucket = audioBucket(
      resources,
      { location: options.region, lifecycle: options.audioLifecycle, protect: options.protect },
      child,
    );
    const database = environmentDatabase(
      resources,
      { location: options.firestoreLocation, protect: options.protect },
      child,
    );
    const indexes = firestoreIndexes(resources, database, child);
    const secret = tokenSecret(
      resources,
      {
        current: { keyId: options.tokenKeyId ?? FIRST_TOKEN_KEY_ID, key: options.tokenSigningKey },
        ...(options.retiringTokenKey === undefined ? {} : { retiring: options.retiringTokenKey }),
        protect: options.protect,
      },
      child,
    );
    const keyVersions = [secret.current.version, ...(secret.retiring ? [secret.retiring.version] : [])];
    const source = uploadFunctionSource(resources, names, options.functionSource, { location: options.region }, child);
    const settings = deployableSettings(resources, bucket, options.tuning);

    const grants = grantDataAccess(
      resources,
      { accounts, topics, bucket, database, tokenSecret: secret, pipeline },
      child,
    );

    const builds = functionBuilds(resources, names, { region: options.region, source }, child);
    const workers = workerFunctions(
      resources,
      names,
      { region: options.region, accounts, source, builds, settings, pipeline },
      after(...grants.persistAudio, ...grants.events, ...grants.extractSpeakers, ...grants.deletion, ...builds.grants),
    );
    const invokers = grantPushInvocation(resources, { accounts, workers, region: options.region, pipeline }, child);
    const subscriptions = workerSubscriptions(
      resources,
      { topics, workers, accounts, pipeline },
      { ...after(...invokers), protect: options.protect },
    );
    const deadLetters = deadLetterStore(resources, topics, messaging, pipeline);
    notificationsSubscriber(resources, { topics, subscriber: options.notificationsSubscriber }, child);
    retentionJob(resources, { topics, region: options.region, retentionDays: options.retentionDays }, child);
    grantDeadLettering(resources, { agent, topics, subscriptions, pipeline }, child);

    const ingress = ingressService(
      resources,
      names,
      {
        region: options.region,
        image: options.image,
        accounts,
        settings,
        tokenSecret: secret,
        scaling: options.ingressScaling,
      },
      after(...grants.ingress, ...keyVersions),
    );
    const api = apiService(
      resources,
      names,
      { region: options.region, image: options.image, accounts, settings, tokenSecret: secret },
      // Its list query fails until its index is built: deploy it once the index exists.
      after(...grants.api, ...keyVersions, ...indexes),
    );

    // Watching it: log-based metrics, alert policies on them, one dashboard.
    const metrics = logMetrics(resources, child);
    const channel = notificationChannel(resources, options.alertChannel, child);
    if (options.alertPolicies ?? true) alertPolicies(resources, { metrics, channel }, child);
    backlogAlerts(resources, { channel, pipeline }, child);
    environmentDashboard(resources, metrics, child);

    this.ingressUrl = ingress.uri.apply((uri) => `${uri.replace(/^https:/, "wss:")}/v1/listen`);
    this.apiUrl = api.uri;
    this.bucketName = bucket.name;
    this.databaseName = database.name;
    this.topicNames = pulumi
      .all([
        topics.audio.name,
        topics.events.name,
        topics.extraction.name,
        topics.deadLetter.name,
        topics.deletion.name,
        topics.notifications.name,
      ])
      .apply(([audio, events, extraction, deadLetter, deletion, notifications]) => ({
        audio,
        events,
        extraction,
        deadLetter,
        deletion,
        notifications,
      }));
    this.deadLetterSubscription = deadLetters.name;
    this.registerOutputs({
      ingressUrl: this.ingressUrl,
      apiUrl: this.apiUrl,
      bucket: this.bucketName,
      database: this.databaseName,
      topics: this.topicNames,
      deadLetterSubscription: this.deadLetterSubscription,
    });
  }
}
