import { run, sleep, spawn } from "effection";
import { describe, expect, it } from "vitest";
import type { Message } from "../../src/hub/broker.js";
import { HubClosedError } from "../../src/hub/errors.js";
import { NextWaiter, type NextWaiterOwner, type Subscriber } from "../../src/hub/next-waiter.js";
import { thrown } from "../helpers/thrown.js";

/** An owner that keeps its waiters in an array, as the hub does. */
function owner(): NextWaiterOwner<string> & { subs: Subscriber<string>[] } {
  return {
    subs: [],
    delivered: 0,
    compare: (a, b) => Number(a) - Number(b),
    remove(sub) {
      this.subs.splice(sub.index, 1);
      sub.index = -1;
    },
  };
}

function listed<T>(hub: { subs: Subscriber<T>[] }, waiter: NextWaiter<T>): NextWaiter<T> {
  waiter.index = hub.subs.length;
  hub.subs.push(waiter);
  return waiter;
}

const message = (seq: number): Message<string> => ({
  id: String(seq),
  seq,
  value: `m${seq}`,
  time: 0,
});

describe("NextWaiter", () => {
  it("takes the first message after its floor, leaves the list with it and counts one delivery", async () => {
    await run(function* () {
      const hub = owner();
      const waiter = listed(hub, new NextWaiter(hub, "3"));
      const reader = yield* spawn(() => waiter.take());
      yield* sleep(0);
      waiter.push(message(3)); // delivered before it was made
      expect(hub.subs).toHaveLength(1);
      waiter.push(message(4));
      waiter.push(message(5));
      expect(hub.subs).toHaveLength(0);
      expect((yield* reader).value).toBe("m4");
      expect(hub.delivered).toBe(1);
    });
  });

  it("returns at once a message that came before it was read", async () => {
    await run(function* () {
      const hub = owner();
      const waiter = listed(hub, new NextWaiter(hub, undefined));
      waiter.push(message(1));
      expect((yield* waiter.take()).value).toBe("m1");
    });
  });

  it("fails its reader with the error it fails with, waiting or not", async () => {
    await run(function* () {
      const hub = owner();
      const waiting = listed(hub, new NextWaiter(hub, undefined));
      const reader = yield* spawn(() => thrown(waiting.take()));
      yield* sleep(0);
      waiting.fail(new HubClosedError("t"));
      expect(yield* reader).toBeInstanceOf(HubClosedError);
      const late = listed(hub, new NextWaiter(hub, undefined));
      late.fail(new HubClosedError("t"));
      expect(yield* thrown(late.take())).toBeInstanceOf(HubClosedError);
      expect(hub.subs).toHaveLength(0);
      expect(hub.delivered).toBe(0);
    });
  });
});
