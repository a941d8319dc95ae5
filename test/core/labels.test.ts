import { run, spawn, suspend, until, useScope } from "effection";
import { describe, expect, it } from "vitest";
import { delay } from "../../src/core/clock.js";
import {
  type LabelChange,
  label,
  labelled,
  labelOf,
  labelPath,
  labelsWatched,
  labelTree,
  recentFailures,
  watchLabels,
  withLabelNode,
} from "../../src/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { runWithVirtualClock } from "../helpers/virtual-time.js";

checkLeaksAfterEach();

const server = () => labelTree().children.find((c) => c.name === "server");

describe("label", () => {
  it("shows labelled tasks as a live tree and removes them when they end", async () => {
    await runWithVirtualClock(function* () {
      yield* label("server");
      const ticker = yield* spawn(function* () {
        yield* label("ticker");
        yield* suspend();
      });
      yield* spawn(function* () {
        yield* label("first name");
        yield* label("renamed");
        yield* suspend();
      });
      yield* spawn(function* () {
        // not labelled: its labelled children hang from "server"
        yield* spawn(function* () {
          yield* label("grandchild");
          yield* suspend();
        });
        yield* suspend();
      });
      yield* delay(0);
      expect(
        server()
          ?.children.map((c) => c.name)
          .sort(),
      ).toEqual(["grandchild", "renamed", "ticker"]);
      yield* ticker.halt();
      expect(
        server()
          ?.children.map((c) => c.name)
          .sort(),
      ).toEqual(["grandchild", "renamed"]);
    });
    expect(server()).toBeUndefined();
  });

  it("gives a node its kind and attributes, and merges new ones on relabel", async () => {
    await runWithVirtualClock(function* () {
      yield* label("server", { kind: "resource", attributes: { port: 8080 } });
      yield* label("server", { attributes: { clients: 2 } });
      expect(server()).toMatchObject({
        kind: "resource",
        state: "running",
        attributes: { port: 8080, clients: 2 },
      });
    });
  });
});

describe("labelled", () => {
  it("returns the body's value and is in the tree while it runs", async () => {
    const value = await run(() =>
      labelled("server", function* () {
        expect(server()?.state).toBe("running");
        return 42;
      }),
    );
    expect(value).toBe(42);
    expect(server()).toBeUndefined();
  });

  it("keeps a failure once, with its stack and path, after the task is gone", async () => {
    const before = recentFailures().length;
    const error = new RangeError("row 7 out of range");
    await expect(
      runWithVirtualClock(() =>
        labelled("server", () =>
          labelled("import", function* () {
            yield* delay(1);
            throw error;
          }),
        ),
      ),
    ).rejects.toBe(error);
    const kept = recentFailures().slice(before);
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({
      path: ["server", "import"],
      kind: "task",
      error: "RangeError",
      message: "row 7 out of range",
    });
    expect(kept[0].stack).toContain("labels.test.ts");
    expect(recentFailures(1)).toEqual([kept[0]]);
  });

  it("shows halting before the body's cleanup runs, and keeps no failure for a halt", async () => {
    const before = recentFailures().length;
    const seen: string[] = [];
    const stop = watchLabels((change: LabelChange) => {
      if (change.node.name === "slow") seen.push(`${change.type} ${change.node.state}`);
    });
    try {
      await runWithVirtualClock(function* () {
        const task = yield* spawn(() =>
          labelled("slow", function* () {
            try {
              yield* suspend();
            } finally {
              seen.push("cleanup");
              yield* until(Promise.resolve());
            }
          }),
        );
        yield* delay(0);
        yield* task.halt();
      });
    } finally {
      stop();
    }
    expect(seen).toEqual(["start running", "update halting", "cleanup", "end done"]);
    expect(recentFailures().length).toBe(before);
  });
});

describe("withLabelNode", () => {
  it("runs the body as a node under the given parent in the caller's task, and ends the node with it", async () => {
    const changes: string[] = [];
    const stop = watchLabels((c) => changes.push(`${c.type} ${c.node.name}`));
    try {
      await runWithVirtualClock(function* () {
        yield* label("server");
        const parent = labelOf(yield* useScope());
        const value = yield* withLabelNode(parent, "send", { kind: "call" }, function* (node) {
          expect(labelPath(node)).toEqual(["server", "send"]);
          expect(node.kind).toBe("call");
          yield* delay(1);
          return 7;
        });
        expect(value).toBe(7);
        expect(server()?.children).toEqual([]);
      });
    } finally {
      stop();
    }
    expect(changes.filter((c) => c.endsWith(" send"))).toEqual(["start send", "end send"]);
  });

  it("keeps a failure of the body and rethrows it, but not a halt", async () => {
    const before = recentFailures().length;
    const error = new Error("refused");
    await expect(
      runWithVirtualClock(function* () {
        yield* label("server");
        yield* withLabelNode(labelOf(yield* useScope()), "refuse", {}, function* () {
          throw error;
        });
      }),
    ).rejects.toBe(error);
    await runWithVirtualClock(function* () {
      yield* label("server");
      const parent = labelOf(yield* useScope());
      const task = yield* spawn(() => withLabelNode(parent, "waits", {}, () => suspend()));
      yield* delay(1);
      yield* task.halt();
    });
    expect(recentFailures().slice(before)).toMatchObject([
      { path: ["server", "refuse"], message: "refused" },
    ]);
  });
});

describe("watchLabels", () => {
  it("costs nothing until a listener is registered, and stops with it", async () => {
    expect(labelsWatched()).toBe(false);
    const changes: string[] = [];
    const stop = watchLabels((c) => changes.push(`${c.type} ${labelPath(c.node).join("/")}`));
    expect(labelsWatched()).toBe(true);
    await runWithVirtualClock(function* () {
      yield* label("server");
      yield* label("server v2");
    });
    stop();
    expect(labelsWatched()).toBe(false);
    expect(changes).toEqual(["start server", "update server v2", "end server v2"]);
  });
});
