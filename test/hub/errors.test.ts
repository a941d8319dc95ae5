import { describe, expect, it } from "vitest";
import { BoughError } from "../../src/core/errors.js";
import {
  CursorExpiredError,
  HubClosedError,
  InvalidCursorError,
  LeaseLostError,
  PublishTimeoutError,
  SubscriptionOverflowError,
  UnserializableValueError,
} from "../../src/hub/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

describe("hub errors", () => {
  it("each have a stable name and code and extend BoughError", () => {
    const cases: [BoughError, string, string][] = [
      [
        new CursorExpiredError("5", "trimmed", "9"),
        "CursorExpiredError",
        "BOUGH_CORE_CURSOR_EXPIRED",
      ],
      [new InvalidCursorError("x"), "InvalidCursorError", "BOUGH_CORE_INVALID_CURSOR"],
      [
        new SubscriptionOverflowError(3, "7"),
        "SubscriptionOverflowError",
        "BOUGH_HUB_SUBSCRIPTION_OVERFLOW",
      ],
      [new HubClosedError("t"), "HubClosedError", "BOUGH_HUB_CLOSED"],
      [
        new UnserializableValueError("t", new TypeError("BigInt")),
        "UnserializableValueError",
        "BOUGH_HUB_UNSERIALIZABLE_VALUE",
      ],
      [new PublishTimeoutError("t", 100), "PublishTimeoutError", "BOUGH_HUB_PUBLISH_TIMEOUT"],
      [new LeaseLostError("k", "expired"), "LeaseLostError", "BOUGH_HUB_LEASE_LOST"],
    ];
    for (const [error, name, code] of cases) {
      expect(error).toBeInstanceOf(BoughError);
      expect(error.name).toBe(name);
      expect(error.code).toBe(code);
      expect(error.message.length).toBeGreaterThan(5);
    }
  });

  it("carry what a caller needs to recover", () => {
    expect(new CursorExpiredError("5", "trimmed", "9")).toMatchObject({
      cursor: "5",
      reason: "trimmed",
      resetTo: "9",
    });
    expect(new SubscriptionOverflowError(3, "7")).toMatchObject({ buffer: 3, lastId: "7" });
    const cause = new TypeError("Do not know how to serialize a BigInt");
    expect(new UnserializableValueError("t", cause).cause).toBe(cause);
    expect(new PublishTimeoutError("t", 100).ms).toBe(100);
  });
});
