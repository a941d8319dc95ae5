import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import * as poolEntry from "../../src/pool/index.js";
import * as workerEntry from "../../src/pool/worker.js";

/** Every module a source file and its static relative imports pull in, and the packages. */
function staticGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    // without comments: JSDoc examples show imports too
    const source = readFileSync(file, "utf8")
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/^\s*\/\/.*$/gm, "");
    for (const match of source.matchAll(/(?:import|export)\s[^"']*?from\s+["']([^"']+)["']/g)) {
      if (/^(?:import|export)\s+type\s/.test(match[0])) continue;
      const spec = match[1];
      if (spec.startsWith(".")) visit(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      else packages.add(spec);
    }
  };
  visit(resolve(entry));
  return { files, packages };
}

describe("bough/pool/worker", () => {
  it("gives a worker file defineWorker, log and callMeta without loading effection or the pool's client side", () => {
    const { files, packages } = staticGraph(join(process.cwd(), "src", "pool", "worker.ts"));
    expect([...packages].filter((p) => !p.startsWith("node:"))).toEqual([]);
    const names = [...files].map((f) => f.split("/").pop());
    expect(names).not.toContain("pool.ts");
    expect(names).not.toContain("serve-workers.ts");
    expect(Object.keys(workerEntry).sort()).toEqual(["callMeta", "defineWorker", "log"]);
  });

  it("is re-exported whole by bough/pool, whose list repeats it", () => {
    for (const name of Object.keys(workerEntry)) expect(poolEntry).toHaveProperty(name);
  });
});
