import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import * as redisEntry from "../../src/hub/redis.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

/** Every package a module and its relative imports pull in. */
function packagesOf(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, "utf8");
    for (const match of source.matchAll(/(?:import|export)[^"']*?from\s+["']([^"']+)["']/g)) {
      const spec = match[1];
      if (spec.startsWith(".")) visit(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      else packages.add(spec);
    }
  };
  visit(resolve(entry));
  return packages;
}

describe("bough/hub/redis", () => {
  it("is the only hub entry that loads ioredis", () => {
    const src = join(process.cwd(), "src", "hub");
    expect(packagesOf(join(src, "index.ts")).has("ioredis")).toBe(false);
    expect(packagesOf(join(src, "redis.ts")).has("ioredis")).toBe(true);
  });

  it("exports the Redis broker and the leader lease", () => {
    expect(typeof redisEntry.redisBroker).toBe("function");
    expect(typeof redisEntry.useRedisBroker).toBe("function");
    expect(typeof redisEntry.useLeader).toBe("function");
    expect(redisEntry.redisBroker({ url: "redis://127.0.0.1:1" }).kind).toBe("redis");
  });
});
