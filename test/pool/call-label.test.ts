import { run, useScope } from "effection";
import { describe, expect, it } from "vitest";
import {
  type LabelChange,
  labelled,
  labelOf,
  labelRoot,
  recentFailures,
  watchLabels,
} from "../../src/core/labels.js";
import {
  callTraceIds,
  closeCallLabel,
  openCallLabel,
  runInCall,
} from "../../src/pool/call-label.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/** Runs `body` while a listener watches the tree; returns what it saw. */
async function watching(body: () => Promise<void>): Promise<LabelChange[]> {
  const changes: LabelChange[] = [];
  const stop = watchLabels((change) => changes.push({ ...change }));
  try {
    await body();
  } finally {
    stop();
  }
  return changes;
}

describe("openCallLabel", () => {
  it("opens nothing while nobody watches the tree", () => {
    expect(openCallLabel("resize", TRACEPARENT)).toBeUndefined();
  });

  it("opens a worker call node with the caller's traceparent, the parent of labels made where no task encloses them", async () => {
    let parentName: string | undefined;
    const changes = await watching(async () => {
      const node = openCallLabel("resize", TRACEPARENT);
      expect(node).toMatchObject({ name: "resize", kind: "worker call", traceparent: TRACEPARENT });
      await runInCall(node!, async () => {
        await new Promise((resolve) => setImmediate(resolve)); // the call's node follows its async work
        await run(() =>
          labelled("decode", function* () {
            parentName = labelOf(yield* useScope()).parent?.name;
          }),
        );
      });
      closeCallLabel(node!, false);
    });
    expect(parentName).toBe("resize");
    expect(changes.map((c) => `${c.type} ${c.node.name}`)).toEqual([
      "start resize",
      "start decode",
      "end decode",
      "end resize",
    ]);
    expect(labelRoot().children.size).toBe(0);
  });

  it("ends a failed call's node as failed, keeping the failure", async () => {
    const error = new RangeError("no such size");
    const changes = await watching(async () => {
      const node = openCallLabel(null, TRACEPARENT);
      closeCallLabel(node!, true, error);
    });
    expect(changes.at(-1)).toMatchObject({ type: "end", error, node: { name: "call" } });
    expect(changes.at(-1)?.node.state).toBe("failed");
    expect(recentFailures(1)[0]).toMatchObject({ path: ["call"], message: "no such size" });
  });

  it("has no trace ids unless a tracer gives the node a span", async () => {
    await watching(async () => {
      const node = openCallLabel("resize", TRACEPARENT);
      expect(callTraceIds(node!)).toBeUndefined();
      closeCallLabel(node!, false);
    });
  });
});
