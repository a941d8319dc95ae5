import { type Operation, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { any, delay } from "../../src/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { runWithVirtualClock } from "../helpers/virtual-time.js";

checkLeaksAfterEach();

function* valueAfter<T>(ms: number, value: T): Operation<T> {
  yield* delay(ms);
  return value;
}
function* failAfter(ms: number, message: string): Operation<never> {
  yield* delay(ms);
  throw new Error(message);
}

describe("any", () => {
  it("returns the first success even when a failure comes first", async () => {
    const value = await runWithVirtualClock(() =>
      any([failAfter(1, "first to settle"), valueAfter(10, "winner"), valueAfter(50, "loser")]),
    );
    expect(value).toBe("winner");
  });

  it("halts the losers and waits for their cleanup", async () => {
    let cleaned = false;
    await runWithVirtualClock(() =>
      any([
        valueAfter(1, "winner"),
        (function* () {
          try {
            yield* suspend();
          } finally {
            yield* delay(1);
            cleaned = true;
          }
          return "never";
        })(),
      ]),
    );
    expect(cleaned).toBe(true);
  });

  it("throws an AggregateError with every error in input order when all fail", async () => {
    const error = await runWithVirtualClock(() =>
      any([failAfter(10, "a"), failAfter(1, "b")]),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors.map((e: Error) => e.message)).toEqual(["a", "b"]);
  });

  it("throws an AggregateError for an empty list", async () => {
    await expect(runWithVirtualClock(() => any([]))).rejects.toThrow(AggregateError);
  });
});
