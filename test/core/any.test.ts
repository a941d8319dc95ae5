import { type Operation, run, sleep, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { any } from "../../src/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

function* valueAfter<T>(ms: number, value: T): Operation<T> {
  yield* sleep(ms);
  return value;
}
function* failAfter(ms: number, message: string): Operation<never> {
  yield* sleep(ms);
  throw new Error(message);
}

describe("any", () => {
  it("returns the first success even when a failure comes first", async () => {
    const value = await run(() =>
      any([failAfter(1, "first to settle"), valueAfter(10, "winner"), valueAfter(50, "loser")]),
    );
    expect(value).toBe("winner");
  });

  it("halts the losers and waits for their cleanup", async () => {
    let cleaned = false;
    await run(() =>
      any([
        valueAfter(1, "winner"),
        (function* () {
          try {
            yield* suspend();
          } finally {
            yield* sleep(1);
            cleaned = true;
          }
          return "never";
        })(),
      ]),
    );
    expect(cleaned).toBe(true);
  });

  it("throws an AggregateError with every error in input order when all fail", async () => {
    const error = await run(() => any([failAfter(10, "a"), failAfter(1, "b")])).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors.map((e: Error) => e.message)).toEqual(["a", "b"]);
  });

  it("throws an AggregateError for an empty list", async () => {
    await expect(run(() => any([]))).rejects.toThrow(AggregateError);
  });
});
