/**
 * Packing the worker source: the built output, package.json and the lock file, checked
 * before anything is uploaded and named by its content.
 */
import fs from "node:fs";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { FunctionSourceError, packageFunctionSource } from "../../infra/function-source";
import { functionSourceFixture } from "./support/program";

test("packs dist/, package.json and package-lock.json", async () => {
  const dir = functionSourceFixture();
  const { archive } = packageFunctionSource(dir);
  expect(archive).toBeInstanceOf(pulumi.asset.AssetArchive);
  const assets = await (archive as pulumi.asset.AssetArchive).assets;
  expect(Object.keys(assets).sort()).toEqual(["dist", "package-lock.json", "package.json"]);
  expect(await (assets.dist as pulumi.asset.FileArchive).path).toBe(path.join(dir, "dist"));
});

test("the digest follows the content: same build, same digest; changed build, new digest", () => {
  const dir = functionSourceFixture();
  const first = packageFunctionSource(dir).digest;
  expect(first).toMatch(/^[a-f0-9]{64}$/);
  expect(packageFunctionSource(dir).digest).toBe(first);
  fs.writeFileSync(path.join(dir, "dist/functions/index.js"), "exports.persistAudio = () => 1;\n");
  expect(packageFunctionSource(dir).digest).not.toBe(first);
});

test("an unbuilt source directory is refused with the command that fixes it", () => {
  const dir = functionSourceFixture();
  fs.rmSync(path.join(dir, "dist"), { recursive: true });
  expect(() => packageFunctionSource(dir)).toThrow(FunctionSourceError);
  expect(() => packageFunctionSource(dir)).toThrow(/lacks dist: run `npm run build`/);
});

test("a package.json whose main was not built is refused", () => {
  const dir = functionSourceFixture();
  fs.rmSync(path.join(dir, "dist/functions/index.js"));
  fs.writeFileSync(path.join(dir, "dist/other.js"), "");
  expect(() => packageFunctionSource(dir)).toThrow(/package.json's main \(dist\/functions\/index.js\) does not exist/);
});

test("the repository's own package.json names the functions entry point the archive relies on", () => {
  const manifest = JSON.parse(fs.readFileSync(path.resolve(__dirname, "../../package.json"), "utf8")) as {
    main?: string;
  };
  expect(manifest.main).toBe("dist/functions/index.js");
});
