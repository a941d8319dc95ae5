import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");

/** dist/ exists and is newer than every source file. */
function distIsFresh(): boolean {
  const marker = join(root, "dist/index.js");
  if (!existsSync(marker)) return false;
  const built = statSync(marker).mtimeMs;
  const newest = execFileSync("find", [join(root, "src"), "-name", "*.ts", "-newer", marker], {
    encoding: "utf8",
  });
  return built > 0 && newest.trim() === "";
}

/**
 * vitest's global setup: builds dist/ once, before any test file runs, when
 * it is missing or older than a source file, so that `npm test` works on a
 * fresh clone and the package tests (which run in parallel) never race a build.
 */
export default function setup(): void {
  if (!distIsFresh()) execFileSync("npx", ["tsup", "--silent"], { cwd: root, stdio: "pipe" });
}
