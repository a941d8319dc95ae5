import { run, sleep, spawn, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { SelectorEmptyError, useSelector } from "../../src/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

describe("useSelector", () => {
  it("starts an added item at once", async () => {
    let started = false;
    await run(function* () {
      const selector = yield* useSelector();
      selector.add(
        "a",
        (function* () {
          started = true;
          yield* suspend();
        })(),
      );
      expect(started).toBe(true);
    });
  });
});
