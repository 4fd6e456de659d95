/**
 * The Pulumi program: one stack per environment, the environment named by the stack.
 *
 *   pulumi stack select dev && pulumi up
 *
 * See infra/README.md for the configuration keys and the first deployment.
 */
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { readStackConfig } from "./config";
import { TetherEnvironment } from "./environment-stack";
import { packageFunctionSource } from "./function-source";

const repositoryRoot = path.resolve(__dirname, "..");
const config = readStackConfig(pulumi.getStack(), (key) => pulumi.runtime.getConfig(key), repositoryRoot);

const environment = new TetherEnvironment({
  environment: config.environment,
  projectId: config.projectId,
  region: config.region,
  image: config.image,
  tokenSigningKey: pulumi.secret(config.tokenSigningKey),
  tokenKeyId: config.tokenKeyId,
  ...(config.retiringTokenKey === undefined
    ? {}
    : { retiringTokenKey: { keyId: config.retiringTokenKey.keyId, key: pulumi.secret(config.retiringTokenKey.key) } }),
  protect: config.protect,
  functionSource: packageFunctionSource(config.functionSourceDir),
  firestoreLocation: config.firestoreLocation,
  audioLifecycle: config.audioLifecycle,
  ingressScaling: config.ingressScaling,
  tuning: config.tuning,
  alertChannel: config.alertChannel,
  alertPolicies: config.alertPolicies,
  retentionDays: config.retentionDays,
  notificationsSubscriber: config.notificationsSubscriber,
});

export const environmentName = config.environment;
export const projectId = config.projectId;
export const region = config.region;
export const ingressUrl = environment.ingressUrl;
export const apiUrl = environment.apiUrl;
export const bucket = environment.bucketName;
export const database = environment.databaseName;
export const topics = environment.topicNames;
export const deadLetterSubscription = environment.deadLetterSubscription;
