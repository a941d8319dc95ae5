// A consumer's ESM program: every bough subpath, type-checked with `strict` and
// `skipLibCheck: false`, then run with plain node (no tsx).

import { type SelectorItem, TimeoutError, useSelector, withTimeout } from "bough";
import { createRouter, json, type Server, useServer } from "bough/http";
import { type Message, useHub } from "bough/hub";
import { type RedisBrokerOptions, redisBroker } from "bough/hub/redis";
import { useInspector } from "bough/inspect";
import { type CallResult, usePool } from "bough/pool";
import { type Tick, ticker } from "bough/sources";
import { createVirtualClock } from "bough/testing";
import { main, type Operation, until } from "effection";

type Adder = { add(a: number, b: number): number };

function* one(): Operation<number> {
  return 1;
}

await main(function* () {
  const report: Record<string, unknown> = {};

  const selector = yield* useSelector<number, string>();
  const item: SelectorItem = selector.add("one", one());
  report.selector = (yield* selector.select()).map(({ data, value }) => `${data}=${value}`);
  item.halt();
  try {
    yield* withTimeout(5, until(new Promise<never>(() => {})));
  } catch (error) {
    report.timeout = error instanceof TimeoutError;
  }

  const ticks = yield* ticker({ intervalMs: 5 });
  const tick: IteratorResult<Tick, never> = yield* ticks.next();
  report.tick = tick.value.n > 0;

  const hub = yield* useHub<string>({ topic: "demo" });
  const first: Message<string> = yield* hub.publish("hello");
  yield* hub.publish("world");
  report.hub = (yield* hub.next(first.id)).value;

  const brokerOptions: RedisBrokerOptions = { maxLen: 100 };
  report.redis = typeof redisBroker === "function" && brokerOptions.maxLen === 100;

  for (const transport of ["thread", "process"] as const) {
    for (const file of ["./add-worker.mjs", "./add-worker.cjs"]) {
      const pool = yield* usePool<Adder>({ worker: new URL(file, import.meta.url), transport });
      const sum: CallResult<Adder["add"]> = yield* pool.run("add", 2, 3);
      report[`${transport} ${file.slice(-3)}`] = sum;
    }
  }

  const server: Server = yield* useServer({
    handler: createRouter().get("/sum/:a", function* (ctx) {
      return json({ a: Number(ctx.params.a) });
    }),
  });
  const response = yield* until(fetch(`${server.url}/sum/4`));
  report.http = yield* until(response.json());

  const inspector = yield* useInspector({ capture: false });
  inspector.counters.inc("runs");
  report.inspect = typeof inspector.snapshot() === "object";

  const clock = createVirtualClock();
  yield* until(clock.advance(1000));
  report.clock = clock.now();

  console.log(JSON.stringify(report));
});
