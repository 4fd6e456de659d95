// The browser bundle of the SDK holds no Node module, no `ws`, and not the full schema library.
import { bundleBrowserSdk } from "../../client/build/bundle";

describe("the SDK's browser bundle", () => {
  it("contains neither ws, nor a node: module, nor zod's classic API", async () => {
    const bundle = await bundleBrowserSdk();
    const packages = bundle.inputs.filter((input) => input.includes("node_modules/"));
    expect(packages.filter((p) => p.includes("node_modules/ws/"))).toEqual([]);
    expect(packages.filter((p) => p.includes("zod/v4/classic"))).toEqual([]);
    expect(bundle.inputs.filter((input) => input.startsWith("node:"))).toEqual([]);
    // The session itself is in it (the substitutes swap only what it imports from shared/).
    expect(bundle.inputs).toContain("client/session.ts");
    expect(bundle.inputs).toContain("client/browser/protocol.ts");
    expect(bundle.inputs).not.toContain("shared/protocol.ts");
    expect(new TextDecoder().decode(bundle.code)).not.toMatch(/require\(["']ws["']\)/);
  }, 30_000);
});
