import { describe, expect, it } from "vitest";
import { BoughError } from "../../src/core/errors.js";
import {
  CheckoutFatalError,
  ProtocolError,
  SerializationError,
  ServerRefusedError,
  SetupError,
  SpawnError,
  serializeError,
  TaskError,
  TimeoutError,
  WorkerCrashedError,
} from "../../src/pool/index.js";

describe("pool errors", () => {
  it("serialises an error's name, message, stack and own properties", () => {
    const error = Object.assign(new RangeError("too big"), { limit: 10, inner: new Error("x") });
    const wire = serializeError(error);
    expect(wire).toMatchObject({ name: "RangeError", message: "too big", limit: 10 });
    expect(wire.stack).toMatch(/RangeError: too big/);
    expect((wire.inner as { message: string }).message).toBe("x");
    expect(JSON.parse(JSON.stringify(wire))).toMatchObject({ name: "RangeError", limit: 10 });
  });

  it("serialises thrown non-errors and unsendable properties", () => {
    expect(serializeError("plain")).toEqual({ name: "Error", message: "plain", value: "plain" });
    const wire = serializeError(Object.assign(new Error("f"), { fn: () => 1, big: 1n }));
    expect(typeof wire.fn).toBe("string");
    expect(wire.big).toBe("1");
  });

  it("marks a busy refusal as retryable and an unauthorized one as final", () => {
    const busy = new ServerRefusedError("busy", "full");
    expect(busy).toBeInstanceOf(BoughError);
    expect(busy).toMatchObject({
      name: "ServerRefusedError",
      code: "BOUGH_POOL_REFUSED",
      retryable: true,
    });
    expect(new ServerRefusedError("unauthorized", "no").retryable).toBe(false);
  });

  it("rebuilds a TaskError that keeps the remote error", () => {
    const error = new TaskError({
      name: "SqliteError",
      message: "no such table",
      stack: "SqliteError: no such table\n    at worker.ts:1:1",
      code: "SQLITE_ERROR",
      table: "users",
    });
    expect(error).toBeInstanceOf(BoughError);
    expect(error.name).toBe("TaskError");
    expect(error.code).toBe("BOUGH_POOL_TASK_ERROR");
    expect(error.remoteName).toBe("SqliteError");
    expect(error.message).toBe("no such table");
    expect(error.stack).toMatch(/at worker\.ts/);
    expect(error.table).toBe("users");
    expect(error.remote.code).toBe("SQLITE_ERROR");
  });

  it("names the failed call of a TaskError as 'CLIENT -> method', in call and as its stack's last line", () => {
    const remote = {
      name: "Error",
      message: "ERR: x",
      stack: "Error: ERR: x\n    at worker.ts:1:1",
    };
    const error = new TaskError(remote, "MY CLIENT NAME -> error");
    expect(error.call).toBe("MY CLIENT NAME -> error");
    expect(error.stack?.split("\n").at(-1)).toBe("    at MY CLIENT NAME -> error (bough/pool)");
    expect(error.stack).toMatch(/at worker\.ts/);
    expect(new TaskError(remote).call).toBeUndefined();
  });

  it("gives every pool error a stable name and code", () => {
    const errors = [
      [new WorkerCrashedError("x", 1), "WorkerCrashedError", "BOUGH_POOL_WORKER_CRASHED"],
      [new SetupError({ name: "E", message: "m" }), "SetupError", "BOUGH_POOL_SETUP_FAILED"],
      [new CheckoutFatalError(new Error("c")), "CheckoutFatalError", "BOUGH_POOL_CHECKOUT_FATAL"],
      [new SpawnError("s"), "SpawnError", "BOUGH_POOL_SPAWN_FAILED"],
      [new SerializationError("s"), "SerializationError", "BOUGH_POOL_UNSERIALIZABLE"],
      [new ProtocolError("p"), "ProtocolError", "BOUGH_POOL_PROTOCOL"],
      [new TimeoutError(5), "TimeoutError", "BOUGH_CORE_TIMEOUT"],
    ] as const;
    for (const [error, name, code] of errors) {
      expect(error).toBeInstanceOf(BoughError);
      expect(error.name).toBe(name);
      expect(error.code).toBe(code);
    }
    expect(new CheckoutFatalError(new Error("c")).cause).toBeInstanceOf(Error);
  });
});
