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
import { environmentOptions, TetherEnvironment } from "./environment-stack";
import { packageFunctionSource } from "./function-source";

const repositoryRoot = path.resolve(__dirname, "..");
const config = readStackConfig(pulumi.getStack(), (key) => pulumi.runtime.getConfig(key), repositoryRoot);

const environment = new TetherEnvironment(environmentOptions(config, packageFunctionSource(config.functionSourceDir)));

export const environmentName = config.environment;
export const projectId = config.projectId;
export const region = config.region;
export const ingressUrl = environment.ingressUrl;
export const apiUrl = environment.apiUrl;
export const bucket = environment.bucketName;
export const database = environment.databaseName;
export const topics = environment.topicNames;
export const deadLetterSubscription = environment.deadLetterSubscription;
