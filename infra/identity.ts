/**
 * One service account per component and environment, ids from shared/environment.ts.
 *
 * The accounts start with no roles at all; access.ts grants each one what its component
 * needs, on the environment's own resources.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import { logicalName } from "./names";

export type Component = keyof EnvironmentResources["serviceAccounts"];

export type ServiceAccounts = Readonly<Record<Component, gcp.serviceaccount.Account>>;

const PURPOSE: Readonly<Record<Component, string>> = {
  ingress: "WebSocket ingress (Cloud Run)",
  persistAudio: "persist-audio worker",
  events: "events worker",
  extractSpeakers: "speaker-extraction worker",
  api: "HTTP API (Cloud Run)",
  deletion: "delete-data worker (deletion and retention)",
};

export function serviceAccounts(resources: EnvironmentResources, opts: pulumi.CustomResourceOptions): ServiceAccounts {
  const account = (component: Component) =>
    new gcp.serviceaccount.Account(
      logicalName(resources, "sa", component),
      {
        project: resources.projectId,
        accountId: resources.serviceAccounts[component],
        displayName: `tether ${resources.environment} ${PURPOSE[component]}`,
      },
      opts,
    );
  return {
    ingress: account("ingress"),
    persistAudio: account("persistAudio"),
    events: account("events"),
    extractSpeakers: account("extractSpeakers"),
    api: account("api"),
    deletion: account("deletion"),
  };
}

/**
 * The project's Pub/Sub service agent (`service-<number>@gcp-sa-pubsub...`). Google owns it
 * and every environment of a project shares it; dead-lettering needs it to publish to the
 * environment's dead-letter topic and to acknowledge on the worker subscriptions, and it is
 * granted exactly that, on those resources only (access.ts).
 */
export function pubsubServiceAgent(
  resources: EnvironmentResources,
  opts: pulumi.CustomResourceOptions,
): gcp.projects.ServiceIdentity {
  return new gcp.projects.ServiceIdentity(
    logicalName(resources, "pubsub-service-agent"),
    { project: resources.projectId, service: "pubsub.googleapis.com" },
    opts,
  );
}
