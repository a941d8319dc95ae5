import { run, sleep, spawn, suspend, until } from "effection";
import { describe, expect, it } from "vitest";
import { label, labelled, labelsWatched } from "../../src/core/labels.js";
import { createCounters } from "../../src/inspect/counters.js";
import { createLineBuffer } from "../../src/inspect/line-buffer.js";
import { createLiveFeed, type LivePatch } from "../../src/inspect/live-feed.js";
import { type InspectorSnapshot, takeSnapshot } from "../../src/inspect/snapshot.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

function recorder() {
  const snapshots: InspectorSnapshot[] = [];
  const patches: LivePatch[] = [];
  let wake: (() => void) | undefined;
  return {
    snapshots,
    patches,
    watcher: {
      snapshot: (s: InspectorSnapshot) => snapshots.push(s),
      patch: (p: LivePatch) => {
        patches.push(p);
        wake?.();
      },
    },
    /** Waits for a patch that `match` accepts. */
    until(match: (p: LivePatch) => boolean): Promise<LivePatch> {
      return new Promise((resolve) => {
        const check = () => {
          const found = patches.find(match);
          if (found) {
            wake = undefined;
            resolve(found);
          }
        };
        wake = check;
        check();
      });
    },
  };
}

describe("createLiveFeed", () => {
  it("watches the tree only while a watcher is attached", () => {
    const counters = createCounters();
    const feed = createLiveFeed({ snapshot: () => takeSnapshot(counters), counters });
    expect(labelsWatched()).toBe(false);
    const a = recorder();
    const b = recorder();
    const stopA = feed.watch(a.watcher);
    const stopB = feed.watch(b.watcher);
    expect(labelsWatched()).toBe(true);
    expect(feed.watchers).toBe(2);
    stopA();
    expect(labelsWatched()).toBe(true);
    stopB();
    expect(labelsWatched()).toBe(false);
    expect(a.snapshots).toHaveLength(1);
  });

  it("sends a snapshot, then the tree's changes gathered per frame, parents first", async () => {
    const counters = createCounters();
    const feed = createLiveFeed({
      snapshot: () => takeSnapshot(counters),
      counters,
      frameMs: 20,
      statsMs: 60_000,
    });
    const r = recorder();
    await run(function* () {
      yield* label("feed app");
      const stop = feed.watch(r.watcher);
      try {
        expect(r.snapshots[0].tree.children.map((c) => c.name)).toContain("feed app");
        const job = yield* spawn(function* () {
          yield* label("job", { kind: "pool call", attributes: { worker: 3 } });
          yield* spawn(function* () {
            yield* label("step");
            yield* suspend();
          });
          // starts and ends within the frame: never sent
          yield* spawn(function* () {
            yield* label("blink");
          });
          yield* suspend();
        });
        const started = yield* until(r.until((p) => p.upsert !== undefined));
        expect(started.upsert?.map((n) => [n.name, n.kind, n.state])).toEqual([
          ["job", "pool call", "running"],
          ["step", "task", "running"],
        ]);
        expect(started.upsert?.[0].attributes).toEqual({ worker: 3 });
        expect(started.upsert?.[1].parentId).toBe(started.upsert?.[0].id);
        yield* job.halt();
        const ended = yield* until(r.until((p) => p.remove !== undefined));
        expect(ended.remove?.sort()).toEqual(started.upsert?.map((n) => n.id).sort());
      } finally {
        stop();
      }
    });
    expect(r.patches.flatMap((p) => p.upsert ?? []).map((n) => n.name)).not.toContain("blink");
  });

  it("sends new failures, counters, series and only the lines a watcher has not seen", async () => {
    const counters = createCounters();
    const stdout = createLineBuffer({ lines: 10 });
    stdout.write("before\n");
    const feed = createLiveFeed({
      snapshot: () => takeSnapshot(counters, stdout),
      counters,
      stdout,
      frameMs: 5,
      statsMs: 20,
    });
    const r = recorder();
    const stop = feed.watch(r.watcher);
    try {
      expect(r.snapshots[0].stdout).toEqual(["before"]);
      stdout.write("after 1\nafter 2\n");
      counters.inc("rows", 2);
      await run(function* () {
        try {
          yield* labelled("doomed", function* () {
            yield* sleep(1);
            throw new Error("feed failure");
          });
        } catch {
          // kept by the feed
        }
      });
      const failed = await r.until((p) => p.failures !== undefined);
      expect(failed.failures?.map((f) => [f.path, f.message])).toEqual([
        [["doomed"], "feed failure"],
      ]);
      const stats = await r.until((p) => p.stdout !== undefined);
      expect(stats.stdout).toEqual(["after 1", "after 2"]);
      expect(stats.counters).toEqual({ rows: 2 });
      expect(r.patches.flatMap((p) => p.stdout ?? [])).toEqual(["after 1", "after 2"]);
    } finally {
      stop();
    }
  });

  it("tells its watchers when it closes and stops watching", () => {
    const counters = createCounters();
    const feed = createLiveFeed({ snapshot: () => takeSnapshot(counters), counters });
    let closed = 0;
    feed.watch({ snapshot() {}, patch() {}, close: () => closed++ });
    feed.close();
    expect(closed).toBe(1);
    expect(feed.watchers).toBe(0);
    expect(labelsWatched()).toBe(false);
  });
});
