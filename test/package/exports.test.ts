import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  name: string;
  exports: Record<string, unknown>;
};
const subpaths = Object.keys(pkg.exports)
  .filter((key) => key !== "./package.json")
  .map((key) => (key === "." ? pkg.name : `${pkg.name}/${key.slice(2)}`));

/** Builds dist/ when it is missing or older than any source file, so `npm test` works on a fresh clone. */
function distIsFresh(): boolean {
  const marker = join(root, "dist/index.js");
  if (!existsSync(marker)) return false;
  const built = statSync(marker).mtimeMs;
  const newest = execFileSync("find", [join(root, "src"), "-name", "*.ts", "-newer", marker], {
    encoding: "utf8",
  });
  return built > 0 && newest.trim() === "";
}

beforeAll(() => {
  if (!distIsFresh()) execFileSync("npx", ["tsup", "--silent"], { cwd: root, stdio: "pipe" });
}, 120_000);

describe("the built package", () => {
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
