/**
 * The worker functions' source: this repository's build output, zipped and uploaded to a
 * per-environment bucket, from which Cloud Functions builds with the nodejs22 buildpack.
 *
 * The archive holds `dist/` (from `npm run build`), `package.json` (whose `main` is the
 * functions entry point) and `package-lock.json`. The object is named by a digest of its
 * content, so a changed build uploads a new object and redeploys the functions, and an
 * unchanged build changes nothing.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import { type DeployableNames, logicalName } from "./names";

/** What goes into the archive, relative to the source directory. */
export const FUNCTION_SOURCE_FILES = ["package.json", "package-lock.json"] as const;
export const FUNCTION_SOURCE_BUILD_DIR = "dist";

export interface FunctionSource {
  readonly archive: pulumi.asset.Archive;
  /** sha256 of every file in the archive (paths and contents). */
  readonly digest: string;
}

export class FunctionSourceError extends Error {
  override name = "FunctionSourceError";
}

function filesUnder(directory: string): string[] {
  return fs
    .readdirSync(directory, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/**
 * Checks a built source directory and packs it. Throws `FunctionSourceError` naming what is
 * missing: deploying functions whose entry point was never built would fail much later,
 * inside Cloud Build.
 */
export function packageFunctionSource(sourceDir: string): FunctionSource {
  const missing = [...FUNCTION_SOURCE_FILES, FUNCTION_SOURCE_BUILD_DIR].filter(
    (entry) => !fs.existsSync(path.join(sourceDir, entry)),
  );
  if (missing.length > 0) {
    throw new FunctionSourceError(
      `Function source ${sourceDir} lacks ${missing.join(", ")}: run \`npm run build\` in the repository, ` +
        "or point tether:functionSourceDir at a directory holding dist/, package.json and package-lock.json",
    );
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(sourceDir, "package.json"), "utf8")) as { main?: unknown };
  const main = typeof manifest.main === "string" ? manifest.main : "index.js";
  if (!fs.existsSync(path.join(sourceDir, main))) {
    throw new FunctionSourceError(
      `Function source ${sourceDir}: package.json's main (${main}) does not exist; run \`npm run build\` first`,
    );
  }

  const files = [
    ...FUNCTION_SOURCE_FILES.map((file) => path.join(sourceDir, file)),
    ...filesUnder(path.join(sourceDir, FUNCTION_SOURCE_BUILD_DIR)),
  ].sort();
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(path.relative(sourceDir, file).split(path.sep).join("/"));
    hash.update("\0");
    hash.update(fs.readFileSync(file));
    hash.update("\0");
  }

  const assets: Record<string, pulumi.asset.Asset | pulumi.asset.Archive> = {
    [FUNCTION_SOURCE_BUILD_DIR]: new pulumi.asset.FileArchive(path.join(sourceDir, FUNCTION_SOURCE_BUILD_DIR)),
  };
  for (const file of FUNCTION_SOURCE_FILES) assets[file] = new pulumi.asset.FileAsset(path.join(sourceDir, file));
  return { archive: new pulumi.asset.AssetArchive(assets), digest: hash.digest("hex") };
}

export interface UploadedFunctionSource {
  readonly bucket: gcp.storage.Bucket;
  readonly object: gcp.storage.BucketObject;
}

export function uploadFunctionSource(
  resources: EnvironmentResources,
  names: DeployableNames,
  source: FunctionSource,
  settings: { readonly location: string },
  opts: pulumi.CustomResourceOptions,
): UploadedFunctionSource {
  const bucket = new gcp.storage.Bucket(
    logicalName(resources, "function-source-bucket"),
    {
      project: resources.projectId,
      name: names.functionSourceBucket,
      location: settings.location.toUpperCase(),
      uniformBucketLevelAccess: true,
      publicAccessPrevention: "enforced",
      // Build artefacts only: always rebuildable from the repository.
      forceDestroy: true,
    },
    opts,
  );
  const object = new gcp.storage.BucketObject(
    logicalName(resources, "function-source"),
    {
      bucket: bucket.name,
      name: `functions/${source.digest}.zip`,
      source: source.archive,
      contentType: "application/zip",
    },
    opts,
  );
  return { bucket, object };
}
