/**
 * The environment's one audio bucket: every conversation's chunks and every speaker sample
 * of the environment live here and nowhere else (PROTOCOL.md section 4).
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import type { AudioLifecycle } from "./config";
import { logicalName } from "./names";

export interface AudioBucketSettings {
  /** A Cloud Storage location; the environment's region unless configured otherwise. */
  readonly location: string;
  readonly lifecycle: AudioLifecycle;
  /** When false the bucket may be deleted with its objects (`pulumi destroy` of a dev stack). */
  readonly protect: boolean;
}

/** Abandoned resumable uploads are removed after this many days. */
const ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 7;

/** The bucket's lifecycle rules, from the stack settings. */
export function audioLifecycleRules(lifecycle: AudioLifecycle): gcp.types.input.storage.BucketLifecycleRule[] {
  const rules: gcp.types.input.storage.BucketLifecycleRule[] = [
    {
      action: { type: "AbortIncompleteMultipartUpload" },
      condition: { age: ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS },
    },
  ];
  if (lifecycle.coldlineAfterDays !== undefined) {
    rules.push({
      action: { type: "SetStorageClass", storageClass: "COLDLINE" },
      condition: { age: lifecycle.coldlineAfterDays, matchesStorageClasses: ["STANDARD"] },
    });
  }
  // No Delete rule: it removed audio and left its records behind. Retention deletes whole
  // conversations through the delete path (lifecycle-jobs.ts).
  return rules;
}

export function audioBucket(
  resources: EnvironmentResources,
  settings: AudioBucketSettings,
  opts: pulumi.CustomResourceOptions,
): gcp.storage.Bucket {
  return new gcp.storage.Bucket(
    logicalName(resources, "audio-bucket"),
    {
      project: resources.projectId,
      name: resources.bucket,
      location: settings.location.toUpperCase(),
      storageClass: "STANDARD",
      uniformBucketLevelAccess: true,
      publicAccessPrevention: "enforced",
      lifecycleRules: audioLifecycleRules(settings.lifecycle),
      forceDestroy: !settings.protect,
    },
    { ...opts, protect: settings.protect },
  );
}
