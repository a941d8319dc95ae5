import { spawn, withResolvers } from "effection";
import { describe, expect, it } from "vitest";
import { delay } from "../../src/core/clock.js";
import { once } from "../../src/core/once.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { runWithVirtualClock } from "../helpers/virtual-time.js";

checkLeaksAfterEach();

describe("once", () => {
  it("runs the operation on the first call only; a call while it runs waits for it", async () => {
    const events: string[] = [];
    await runWithVirtualClock(function* () {
      const gate = withResolvers<void>();
      let runs = 0;
      const close = once(function* () {
        runs++;
        events.push("running");
        yield* gate.operation;
        events.push("ran");
      });
      const first = yield* spawn(close);
      const second = yield* spawn(function* () {
        yield* close();
        events.push("second call returned");
      });
      yield* delay(1); // both calls are under way: the first waits at the gate, the second for the first
      expect(events).toEqual(["running"]);
      gate.resolve();
      yield* first;
      yield* second;
      yield* close();
      events.push("third call returned");
      expect(runs).toBe(1);
    });
    expect(events).toEqual(["running", "ran", "second call returned", "third call returned"]);
  });

  it("throws the first run's error from every call", async () => {
    const boom = new Error("boom");
    const seen: unknown[] = [];
    await runWithVirtualClock(function* () {
      const close = once(function* () {
        throw boom;
      });
      for (let i = 0; i < 2; i++) {
        try {
          yield* close();
        } catch (error) {
          seen.push(error);
        }
      }
    });
    expect(seen).toEqual([boom, boom]);
  });
});
