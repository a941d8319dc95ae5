import { run, sleep } from "effection";
import { describe, expect, it } from "vitest";
import { Resumed } from "../../src/http/resumed.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

describe("Resumed", () => {
  it("continues an operation exactly where its first step left it", async () => {
    const steps: string[] = [];
    function* op() {
      steps.push("first");
      yield* sleep(1);
      steps.push("second");
      return 42;
    }
    const value = await run(function* () {
      const iterator = op()[Symbol.iterator]();
      const first = iterator.next();
      expect(steps).toEqual(["first"]);
      expect(first.done).toBe(false);
      return yield* new Resumed(iterator, first);
    });
    expect(value).toBe(42);
    expect(steps).toEqual(["first", "second"]);
  });

  it("runs the operation's finally blocks when it is halted", async () => {
    let cleaned = false;
    function* op() {
      try {
        yield* sleep(10_000);
      } finally {
        cleaned = true;
      }
    }
    const task = run(function* () {
      const iterator = op()[Symbol.iterator]();
      yield* new Resumed(iterator, iterator.next());
    });
    await new Promise((r) => setTimeout(r, 5));
    await task.halt();
    expect(cleaned).toBe(true);
  });
});
