import { run, sleep, spawn, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { label } from "../../src/core/labels.js";
import { createCounters } from "../../src/inspect/counters.js";
import { createLineBuffer } from "../../src/inspect/line-buffer.js";
import { takeSnapshot } from "../../src/inspect/snapshot.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

describe("takeSnapshot", () => {
  it("gathers process facts, counters, the labelled tree and the lines as plain JSON", async () => {
    const counters = createCounters();
    counters.inc("iterations", 2);
    const stdout = createLineBuffer({ lines: 2 });
    stdout.write("a\nb\nc\npartial");
    await run(function* () {
      yield* label("snapshot-test");
      yield* spawn(function* () {
        yield* label("worker");
        yield* suspend();
      });
      yield* sleep(0);
      const snapshot = takeSnapshot(counters, stdout);
      expect(snapshot.pid).toBe(process.pid);
      expect(snapshot.uptimeMs).toBeGreaterThan(0);
      expect(snapshot.memory.rss).toBeGreaterThan(0);
      expect(Date.parse(snapshot.time)).not.toBeNaN();
      expect(snapshot.counters).toEqual({ iterations: 2 });
      expect(snapshot.stdout).toEqual(["b", "c"]);
      expect(snapshot.stderr).toEqual([]);
      const mine = snapshot.tree.children.find((c) => c.name === "snapshot-test");
      expect(mine?.children.map((c) => c.name)).toEqual(["worker"]);
      expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
    });
  });
});
