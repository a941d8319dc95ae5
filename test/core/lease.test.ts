import { createScope, type Operation, run, suspend } from "effection";
import { describe, expect, it } from "vitest";
import {
  CursorExpiredError,
  createLeasable,
  LEASE,
  LeasableOperation,
  type Lease,
  type LeaseOptions,
  openLease,
  withLease,
} from "../../src/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

function counted() {
  const state = { open: 0, opened: 0 };
  const leasable = createLeasable(function* (): Operation<Lease<{ id: number }>> {
    state.open++;
    const id = ++state.opened;
    let closed = false;
    return {
      subscription: { id },
      close: () => {
        if (!closed) state.open--;
        closed = true;
      },
    };
  });
  return { state, leasable };
}

describe("createLeasable and withLease", () => {
  it("subscribes as a resource that ends with the caller's scope", async () => {
    const { state, leasable } = counted();
    await run(function* () {
      const sub = yield* leasable;
      expect(sub.id).toBe(1);
      expect(state.open).toBe(1);
    });
    expect(state.open).toBe(0);
  });

  it("opens a lease without a resource and closes it when the body returns or throws", async () => {
    const { state, leasable } = counted();
    await run(function* () {
      const id = yield* withLease(leasable, function* (sub) {
        expect(state.open).toBe(1);
        return sub.id;
      });
      expect(id).toBe(1);
      expect(state.open).toBe(0);
      let error: unknown;
      try {
        yield* withLease(leasable, function* () {
          throw new Error("body failed");
        });
      } catch (e) {
        error = e;
      }
      expect((error as Error).message).toBe("body failed");
      expect(state.open).toBe(0);
    });
  });

  it("closes the lease when the body is halted", async () => {
    const { state, leasable } = counted();
    const scope = createScope();
    const task = scope.run(() => withLease(leasable, () => suspend()));
    expect(state.open).toBe(1);
    await task.halt();
    expect(state.open).toBe(0);
    await scope[Symbol.asyncDispose]();
  });

  it("subscribes an ordinary operation the usual way", async () => {
    const value = await run(() =>
      withLease(
        (function* () {
          return 7;
        })(),
        function* (n) {
          return n * 6;
        },
      ),
    );
    expect(value).toBe(42);
  });

  it("exposes the lease under a global symbol", () => {
    expect(LEASE).toBe(Symbol.for("bough.lease"));
    expect(typeof counted().leasable[LEASE]).toBe("function");
  });

  it("passes the consumer's options to the opener and the lease's reset to the body", async () => {
    const seen: LeaseOptions[] = [];
    const expired = new CursorExpiredError("5", "trimmed", "9");
    const leasable = createLeasable(function* (options): Operation<Lease<string>> {
      seen.push(options);
      return options.onExpired === "reset"
        ? { subscription: "from 9", close() {}, reset: expired }
        : { subscription: "as asked", close() {} };
    });
    await run(function* () {
      expect(yield* leasable).toBe("as asked");
      const plain = yield* withLease(leasable, function* (sub, reset) {
        return [sub, reset];
      });
      expect(plain).toEqual(["as asked", undefined]);
      const reset = yield* withLease(
        leasable,
        function* (sub, reset) {
          return [sub, reset];
        },
        { onExpired: "reset" },
      );
      expect(reset).toEqual(["from 9", expired]);
    });
    expect(seen).toEqual([{}, {}, { onExpired: "reset" }]);
  });

  it("opens a lease for the caller to close, and wraps an ordinary operation in one that does nothing", async () => {
    const { state, leasable } = counted();
    await run(function* () {
      const lease = yield* openLease(leasable, { onExpired: "reset" });
      expect(lease.subscription.id).toBe(1);
      expect(state.open).toBe(1);
      lease.close();
      expect(state.open).toBe(0);
      const plain = yield* openLease(
        (function* () {
          return 7;
        })(),
      );
      expect(plain.subscription).toBe(7);
      expect(plain.reset).toBeUndefined();
      plain.close();
    });
  });

  it("makes a leasable from a class: yield* subscribes as a resource, withLease without one", async () => {
    const state = { open: 0 };
    class Counter extends LeasableOperation<number> {
      *[LEASE](): Operation<Lease<number>> {
        state.open++;
        return { subscription: state.open, close: () => state.open-- };
      }
    }
    await run(function* () {
      expect(yield* new Counter()).toBe(1);
      expect(state.open).toBe(1);
    });
    expect(state.open).toBe(0);
    const seen = await run(() =>
      withLease(new Counter(), function* (n) {
        expect(state.open).toBe(1);
        return n;
      }),
    );
    expect(seen).toBe(1);
    expect(state.open).toBe(0);
  });
});
