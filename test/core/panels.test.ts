import { spawn, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { delay } from "../../src/core/clock.js";
import { label, readPanels, usePanel } from "../../src/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { runWithVirtualClock } from "../helpers/virtual-time.js";

checkLeaksAfterEach();

describe("usePanel", () => {
  it("shows a panel, read when looked at, while its scope lives", async () => {
    let busy = 1;
    await runWithVirtualClock(function* () {
      yield* label("app");
      const pool = yield* spawn(function* () {
        yield* usePanel("pool", "resizers", () => ({
          busy,
          idle: 3,
          dropped: { "drop-oldest": 2 },
        }));
        yield* suspend();
      });
      yield* delay(0);
      const [panel] = readPanels().filter((p) => p.name === "resizers");
      expect(panel).toMatchObject({
        kind: "pool",
        path: ["app"],
        values: { busy: 1, idle: 3, dropped: { "drop-oldest": 2 } },
      });
      busy = 2;
      expect(readPanels().find((p) => p.name === "resizers")?.values.busy).toBe(2);
      yield* pool.halt();
      expect(readPanels().find((p) => p.name === "resizers")).toBeUndefined();
    });
  });

  it("shows a reader's failure as the panel's error", async () => {
    await runWithVirtualClock(function* () {
      yield* usePanel("hub", "broken", () => {
        throw new Error("redis is gone");
      });
      expect(readPanels().find((p) => p.name === "broken")?.values).toEqual({
        error: "redis is gone",
      });
    });
  });
});
