import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  name: string;
  version: string;
  exports: Record<string, unknown>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
};
const subpaths = Object.keys(pkg.exports)
  .filter((key) => key !== "./package.json")
  .map((key) => (key === "." ? pkg.name : `${pkg.name}/${key.slice(2)}`));

describe("the built package", () => {
  it("names every export of every entry (no export *), so nothing internal is published by accident", async () => {
    const { default: config } = (await import(join(root, "tsup.config.ts"))) as {
      default: { entry: Record<string, string> };
    };
    for (const entry of Object.values(config.entry)) {
      const source = readFileSync(join(root, entry), "utf8");
      expect(source, entry).not.toMatch(/^export \* from/m);
    }
  });

  it.each(subpaths)("imports %s as ESM and as CommonJS", (specifier) => {
    const esm = execFileSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const m = await import(${JSON.stringify(specifier)}); console.log(Object.keys(m).length)`,
      ],
      { cwd: root, encoding: "utf8" },
    );
    const cjs = execFileSync(
      process.execPath,
      ["-e", `const m = require(${JSON.stringify(specifier)}); console.log(Object.keys(m).length)`],
      { cwd: root, encoding: "utf8" },
    );
    expect(Number(esm.trim())).toBe(Number(cjs.trim()));
  });

  it("exports the core API from the main entry in both formats", () => {
    const names = [
      "useSelector",
      "supervise",
      "withTimeout",
      "retry",
      "any",
      "ClockContext",
      "TimeoutError",
      "label",
    ];
    const script = `const m = require("bough"); console.log(${JSON.stringify(names)}.filter((n) => !(n in m)).join(","))`;
    expect(
      execFileSync(process.execPath, ["-e", script], { cwd: root, encoding: "utf8" }).trim(),
    ).toBe("");
  });
});
