import { createSignal, run, sleep, suspend, until } from "effection";
import { describe, expect, it } from "vitest";
import { createRouter, json, longPoll, type Server, useServer } from "../../src/http/index.js";
import { useHub } from "../../src/hub/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { deferred, request, wait } from "./helpers.js";

checkLeaksAfterEach();

describe("longPoll", () => {
  it("answers with the operation's result when it finishes", async () => {
    await run(function* () {
      const ticks = createSignal<number, never>();
      let subscribed = false;
      const server = yield* useServer({
        handler: createRouter().get("/next", function* () {
          return longPoll(
            (function* () {
              const subscription = yield* ticks;
              subscribed = true;
              return (yield* subscription.next()).value;
            })(),
            { timeoutMs: 5000 },
          );
        }),
      });
      const pending = request(`${server.url}/next`);
      while (!subscribed) yield* sleep(5);
      ticks.send(7);
      const res = yield* until(pending);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toBe(7);
    });
  });

  it("answers 204 at the timeout and halts the operation", async () => {
    let halted = false;
    await run(function* () {
      const server = yield* useServer({
        handler: createRouter().get("/next", function* () {
          return longPoll(
            (function* () {
              try {
                yield* suspend();
              } finally {
                halted = true;
              }
            })(),
            { timeoutMs: 60 },
          );
        }),
      });
      const t0 = performance.now();
      const res = yield* until(request(`${server.url}/next`));
      expect(res.status).toBe(204);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
      yield* until(wait(5));
      expect(halted).toBe(true);
      expect(server.active).toBe(0);
    });
  });

  it("sends a reply the operation returns as it is", async () => {
    await run(function* () {
      const server = yield* useServer({
        handler: createRouter().get("/next", function* () {
          return longPoll(
            (function* () {
              yield* sleep(5);
              return json({ created: true }, 201);
            })(),
          );
        }),
      });
      const res = yield* until(request(`${server.url}/next`));
      expect(res.status).toBe(201);
    });
  });

  it("wakes many waiters together", async () => {
    const waiters = 200;
    await run(function* () {
      const ticks = createSignal<number, never>();
      let waiting = 0;
      let woken = 0;
      const server = yield* useServer({
        handler: createRouter().get("/next", function* () {
          return longPoll(
            (function* () {
              const subscription = yield* ticks;
              waiting++; // subscribed, so the send below reaches it
              const tick = yield* subscription.next();
              woken++;
              return tick.value;
            })(),
            { timeoutMs: 10_000 },
          );
        }),
      });
      const responses = Array.from({ length: waiters }, () => request(`${server.url}/next`));
      while (waiting < waiters) yield* sleep(5);
      ticks.send(42);
      // together: one send wakes every waiter before the event loop turns once (what a loaded
      // machine cannot stretch, unlike a bound on the time until the last reply arrives)
      yield* until(new Promise((resolve) => setImmediate(resolve)));
      expect(woken).toBe(waiters);
      const all = yield* until(Promise.all(responses));
      expect(all.every((res) => res.status === 200 && res.body === "42")).toBe(true);
    });
  });

  it("wakes many hub.next() waiters together and returns the hub's subscriber count to baseline", async () => {
    const waiters = 300;
    await run(function* () {
      const hub = yield* useHub<string>({ topic: "next" });
      const baseline = hub.stats().subscribers;
      let woken = 0;
      const server = yield* useServer({
        handler: createRouter().get("/next", function* (ctx) {
          return longPoll(
            (function* () {
              const message = yield* hub.next(ctx.query.after);
              woken++;
              return message;
            })(),
            { timeoutMs: 10_000 },
          );
        }),
      });
      const first = yield* hub.publish("first");
      // a cursor already in history answers at once
      const caughtUp = yield* until(request(`${server.url}/next?after=0`));
      expect(JSON.parse(caughtUp.body).value).toBe("first");
      const responses = Array.from({ length: waiters }, () =>
        request(`${server.url}/next?after=${first.id}`),
      );
      while (hub.stats().subscribers < baseline + waiters) yield* sleep(5);
      woken = 0; // the caught-up request above counted one
      const second = yield* hub.publish("second");
      // together: the publish wakes every waiter before the event loop turns once
      yield* until(new Promise((resolve) => setImmediate(resolve)));
      expect(woken).toBe(waiters);
      const all = yield* until(Promise.all(responses));
      for (const res of all) {
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body)).toMatchObject({ id: second.id, value: "second" });
      }
      yield* until(wait(20));
      expect(hub.stats().subscribers).toBe(baseline);
    });
  });

  it("answers the waiters of one object with one body, and the same object mutated later as it is then", async () => {
    await run(function* () {
      const ticks = createSignal<{ text: string }, never>();
      let waiting = 0;
      const server = yield* useServer({
        handler: createRouter().get("/next", function* () {
          return longPoll(
            (function* () {
              const subscription = yield* ticks;
              waiting++;
              return (yield* subscription.next()).value;
            })(),
          );
        }),
      });
      const shared = { text: "héllo" };
      const first = [request(`${server.url}/next`), request(`${server.url}/next`)];
      while (waiting < 2) yield* sleep(5);
      ticks.send(shared);
      for (const res of yield* until(Promise.all(first))) {
        expect(res.body).toBe('{"text":"héllo"}');
        expect(res.headers["content-length"]).toBe(String(Buffer.byteLength(res.body)));
      }
      shared.text = "wörld!";
      const second = request(`${server.url}/next`);
      while (waiting < 3) yield* sleep(5);
      ticks.send(shared);
      const res = yield* until(second);
      expect(res.body).toBe('{"text":"wörld!"}');
      expect(res.headers["content-length"]).toBe(String(Buffer.byteLength(res.body)));
    });
  });

  it("answers 503 to a waiting long-poll on shutdown", async () => {
    const ready = deferred<Server>();
    const task = run(function* () {
      ready.resolve(
        yield* useServer({
          handler: createRouter().get("/next", function* () {
            return longPoll(suspend(), { timeoutMs: 10_000 });
          }),
          shutdownGraceMs: 1000,
        }),
      );
      yield* suspend();
    });
    try {
      const srv = await ready.promise;
      const pending = request(`${srv.url}/next`);
      await wait(30);
      const stopped = Promise.resolve(task.halt());
      const res = await pending;
      expect(res.status).toBe(503);
      expect(res.headers["retry-after"]).toBe("1");
      await stopped;
    } finally {
      await task.halt();
    }
  });
});
