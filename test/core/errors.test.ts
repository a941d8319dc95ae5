import { execFileSync } from "node:child_process";
import { createScope, suspend } from "effection";
import { describe, expect, it } from "vitest";
import {
  BoughError,
  isHalted,
  SelectorEmptyError,
  SupervisorGaveUpError,
  TimeoutError,
} from "../../src/index.js";

describe("errors", () => {
  it("gives every error class a stable name and code", () => {
    const cases: [BoughError, string, string][] = [
      [new TimeoutError(10), "TimeoutError", "BOUGH_CORE_TIMEOUT"],
      [new SelectorEmptyError(), "SelectorEmptyError", "BOUGH_CORE_SELECTOR_EMPTY"],
      [
        new SupervisorGaveUpError(new Error("x"), 3, 1000),
        "SupervisorGaveUpError",
        "BOUGH_CORE_SUPERVISOR_GAVE_UP",
      ],
    ];
    for (const [error, name, code] of cases) {
      expect(error).toBeInstanceOf(BoughError);
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(name);
      expect(error.code).toBe(code);
      expect(String(error)).toContain(name);
    }
  });

  it("prefixes every error code with its area (BOUGH_CORE_, BOUGH_POOL_, …)", () => {
    const codes = execFileSync("grep", ["-rhoE", '"BOUGH_[A-Z_]+"', "src"], { encoding: "utf8" })
      .trim()
      .split("\n");
    expect(codes.length).toBeGreaterThan(20);
    for (const code of codes) {
      expect(code).toMatch(/^"BOUGH_(CORE|HTTP|HUB|POOL|SOURCES|INSPECT|OTEL|TESTING)_[A-Z_]+"$/);
    }
  });

  it("keeps the last error as the cause of SupervisorGaveUpError", () => {
    const last = new Error("disk full");
    const error = new SupervisorGaveUpError(last, 5, 60_000);
    expect(error.cause).toBe(last);
    expect(error.message).toContain("disk full");
  });

  it("tells a halted task's error apart from a failure", async () => {
    const scope = createScope();
    const task = scope.run(() => suspend());
    await task.halt();
    const error = await Promise.resolve(task).catch((e: unknown) => e);
    expect(isHalted(error)).toBe(true);
    expect(isHalted(new Error("boom"))).toBe(false);
    await scope[Symbol.asyncDispose]();
  });
});
