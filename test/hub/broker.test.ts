import { type Operation, run, sleep, spawn } from "effection";
import { describe, expect, it } from "vitest";
import {
  type Broker,
  CursorExpiredError,
  createMemoryBroker,
  type Message,
  useHub,
} from "../../src/hub/index.js";
import { redisBroker } from "../../src/hub/redis.js";
import { useRedisServer } from "../../src/testing/redis-server.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

function* take<T>(
  sub: { next(): Operation<IteratorResult<Message<T>, never>> },
  n: number,
): Operation<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push((yield* sub.next()).value.value);
  return out;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** The same hub code on every broker: only the broker changes. */
const brokers: [string, () => Operation<Broker>][] = [
  [
    "memory",
    function* () {
      return createMemoryBroker();
    },
  ],
  [
    "redis",
    function* () {
      const server = yield* useRedisServer();
      return redisBroker({ url: server.url, maxLen: 1_000 });
    },
  ],
];

describe.each(brokers)("a hub on the %s broker", (_name, makeBroker) => {
  it("delivers in order to every subscriber and long-polls with cursors", async () => {
    await run(function* () {
      const broker = yield* makeBroker();
      const hub = yield* useHub<number>({ topic: "contract", broker, history: 1_000 });
      const subs = [yield* hub.subscribe(), yield* hub.subscribe()];
      const readers = [];
      for (const sub of subs) readers.push(yield* spawn(() => take(sub, 20)));
      const first = yield* hub.publish(0);
      for (const n of range(1, 20)) yield* hub.publish(n);
      for (const reader of readers) expect(yield* reader).toEqual(range(0, 20));
      expect((yield* hub.next(first.id)).value).toBe(1);
      const waiting = yield* spawn(() => hub.next());
      yield* sleep(20);
      yield* hub.publish(20);
      expect((yield* waiting).value).toBe(20);
      expect((yield* hub.latest())?.value).toBe(20);
    });
  });

  it("resumes after a cursor without gap or duplicate", async () => {
    await run(function* () {
      const broker = yield* makeBroker();
      const hub = yield* useHub<number>({ topic: "contract", broker, history: 1_000, buffer: 4 });
      const ids: string[] = [];
      for (const n of range(0, 40)) ids.push((yield* hub.publish(n)).id);
      const sub = yield* hub.subscribe({ after: ids[9] });
      const reader = yield* spawn(() => take(sub, 40));
      for (const n of range(40, 50)) yield* hub.publish(n);
      expect(yield* reader).toEqual(range(10, 50));
    });
  });

  it("holds back under the block policy and loses nothing", async () => {
    await run(function* () {
      const broker = yield* makeBroker();
      const hub = yield* useHub<number>({
        topic: "contract",
        broker,
        buffer: 2,
        overflow: "block",
      });
      const stalled = yield* hub.subscribe();
      const publisher = yield* spawn(function* () {
        for (const n of range(0, 10)) yield* hub.publish(n);
      });
      yield* sleep(50);
      expect(yield* take(stalled, 10)).toEqual(range(0, 10));
      yield* publisher;
      expect(hub.stats().dropped.block).toBe(0);
    });
  });

  it("drops the oldest for a stalled drop-oldest subscriber without slowing the others", async () => {
    await run(function* () {
      const broker = yield* makeBroker();
      const hub = yield* useHub<number>({ topic: "contract", broker, buffer: 3 });
      const stalled = yield* hub.subscribe();
      const fast = yield* hub.subscribe({ buffer: 100 });
      const reader = yield* spawn(() => take(fast, 10));
      for (const n of range(0, 10)) yield* hub.publish(n);
      expect(yield* reader).toEqual(range(0, 10));
      expect(yield* take(stalled, 3)).toEqual([7, 8, 9]);
      expect(hub.stats().dropped["drop-oldest"]).toBe(7);
    });
  });

  it("reports a cursor from the future as expired", async () => {
    await run(function* () {
      const broker = yield* makeBroker();
      const hub = yield* useHub<number>({ topic: "contract", broker });
      yield* hub.publish(1);
      const future = broker.kind === "memory" ? "99" : `${Date.now() + 3_600_000}-0`;
      let error: unknown;
      try {
        yield* hub.next(future);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CursorExpiredError);
      expect(error).toMatchObject({ reason: "ahead" });
    });
  });
});
