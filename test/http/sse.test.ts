import { createChannel, run, sleep, until } from "effection";
import { describe, expect, it } from "vitest";
import { ClockContext } from "../../src/core/clock.js";
import { CursorExpiredError } from "../../src/core/errors.js";
import {
  createRouter,
  encodeEvent,
  encodeResetEvent,
  longPoll,
  sse,
  useServer,
} from "../../src/http/index.js";
import { useHub } from "../../src/hub/index.js";
import { createVirtualClock } from "../../src/testing/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { openStream, request } from "./helpers.js";

checkLeaksAfterEach();

function ids(text: string): string[] {
  return [...text.matchAll(/^id: (.*)$/gm)].map((m) => m[1]);
}

describe("sse", () => {
  it("sends the event-stream headers", async () => {
    await run(function* () {
      const feed = createChannel<string, never>();
      const server = yield* useServer({
        handler: createRouter().get("/events", function* () {
          return sse(feed, { heartbeatMs: 0 });
        }),
      });
      const client = yield* until(openStream(`${server.url}/events`));
      expect(client.status).toBe(200);
      expect(client.headers["content-type"]).toBe("text/event-stream");
      expect(client.headers["cache-control"]).toBe("no-cache, no-transform");
      expect(client.headers["x-accel-buffering"]).toBe("no");
      expect(client.headers.connection).toBe("keep-alive");
      client.close();
    });
  });

  it("encodes ids, event types and multi-line data", () => {
    expect(encodeEvent({ id: "7-0", event: "tick", data: '{"n":7}' })).toBe(
      'id: 7-0\nevent: tick\ndata: {"n":7}\n\n',
    );
    expect(encodeEvent({ data: "a\nb\r\nc", retry: 1500 })).toBe(
      "retry: 1500\ndata: a\ndata: b\ndata: c\n\n",
    );
    expect(encodeEvent({ id: "x\ny", data: "" })).toBe("id: xy\ndata: \n\n");
  });

  it("sends every item as an event with its id, and comment heartbeats while idle", async () => {
    await run(function* () {
      const hub = yield* useHub<string>({ topic: "ticks" });
      const server = yield* useServer({
        handler: createRouter().get("/events", function* (ctx) {
          return sse(hub.subscribe({ after: ctx.lastEventId }), {
            heartbeatMs: 40,
            event: () => "tick",
            data: (m) => JSON.stringify(m.value),
            retryMs: 2000,
          });
        }),
      });
      const client = yield* until(openStream(`${server.url}/events`));
      yield* until(client.waitFor((t) => t.startsWith("retry: 2000\n\n")));
      while (hub.stats().subscribers === 0) yield* sleep(1);
      const one = yield* hub.publish("one");
      yield* hub.publish("two");
      yield* until(client.waitFor((t) => t.includes('data: "two"')));
      expect(client.text).toContain(`id: ${one.id}\nevent: tick\ndata: "one"\n\n`);
      yield* until(client.waitFor((t) => t.split(":\n\n").length >= 3, 2000));
      client.close();
    });
  });

  it("resumes from Last-Event-ID at the hub cursor with no gap and no duplicate", async () => {
    await run(function* () {
      const hub = yield* useHub<string>({ topic: "resume", history: 100 });
      const server = yield* useServer({
        handler: createRouter().get("/events", function* (ctx) {
          return sse(hub.subscribe({ after: ctx.lastEventId }), { heartbeatMs: 0 });
        }),
      });
      const published: string[] = [];
      const first = yield* until(openStream(`${server.url}/events`));
      while (hub.stats().subscribers === 0) yield* sleep(1);
      for (let i = 1; i <= 5; i++) published.push((yield* hub.publish(`m${i}`)).id);
      yield* until(first.waitFor((t) => ids(t).length === 5));
      const seen = ids(first.text);
      first.close();
      while (hub.stats().subscribers > 0) yield* sleep(1);
      // published while the client was away
      for (let i = 6; i <= 8; i++) published.push((yield* hub.publish(`m${i}`)).id);
      const second = yield* until(
        openStream(`${server.url}/events`, { "last-event-id": seen.at(-1)! }),
      );
      yield* until(second.waitFor((t) => ids(t).length === 3));
      published.push((yield* hub.publish("m9")).id);
      yield* until(second.waitFor((t) => ids(t).length === 4));
      expect([...seen, ...ids(second.text)]).toEqual(published);
      expect(second.text).toContain('"value":"m6"');
      second.close();
    });
  });

  it("halts the stream when the client leaves, returning the subscriber count to its baseline", async () => {
    // a virtual clock that never moves: whatever ends the streams, it is not a timer (a
    // heartbeat or the reaper) but the clients' leaving, however slow the machine is
    const clock = createVirtualClock();
    await run(function* () {
      yield* ClockContext.set(clock);
      const hub = yield* useHub<number>({ topic: "count" });
      const baseline = hub.stats().subscribers;
      const server = yield* useServer({
        handler: createRouter().get("/events", function* () {
          return sse(hub.subscribe(), { heartbeatMs: 0 });
        }),
      });
      const clients = [];
      for (let i = 0; i < 5; i++) clients.push(yield* until(openStream(`${server.url}/events`)));
      while (hub.stats().subscribers < baseline + 5) yield* sleep(1);
      expect(server.active).toBe(5);
      yield* hub.publish(1);
      for (const client of clients) yield* until(client.waitFor((t) => t.includes("data: ")));
      for (const client of clients) client.close();
      while (hub.stats().subscribers > baseline) yield* sleep(1);
      expect(server.active).toBe(0);
      expect(clock.now()).toBe(0);
    });
  });

  it("answers 400 before the stream starts to a malformed Last-Event-ID, and logs nothing", async () => {
    await run(function* () {
      const hub = yield* useHub<string>({ topic: "bad" });
      const logged: unknown[] = [];
      const server = yield* useServer({
        logger: { error: (message, error) => logged.push([message, error]) },
        handler: createRouter()
          .get("/events", function* (ctx) {
            return sse(hub.subscribe({ after: ctx.lastEventId }), { heartbeatMs: 0 });
          })
          .get("/next", function* (ctx) {
            return longPoll(hub.next(ctx.query.after), { timeoutMs: 1000 });
          }),
      });
      const res = yield* until(
        request(`${server.url}/events`, { headers: { "last-event-id": "x9" } }),
      );
      expect(res.status).toBe(400);
      expect(res.headers["content-type"]).toContain("application/json");
      expect(JSON.parse(res.body).error).toContain("not a valid cursor");
      const poll = yield* until(request(`${server.url}/next?after=nope`));
      expect(poll.status).toBe(400);
      expect(logged).toEqual([]);
      expect(hub.stats().subscribers).toBe(0);
    });
  });

  it("starts a stale cursor's stream at the oldest retained message after an event: reset", async () => {
    await run(function* () {
      const hub = yield* useHub<string>({ topic: "stale", history: 3 });
      const server = yield* useServer({
        handler: createRouter().get("/events", function* (ctx) {
          return sse(hub.subscribe({ after: ctx.lastEventId }), { heartbeatMs: 0 });
        }),
      });
      for (let i = 1; i <= 6; i++) yield* hub.publish(`m${i}`); // history keeps 4, 5, 6
      const client = yield* until(openStream(`${server.url}/events`, { "last-event-id": "1" }));
      expect(client.status).toBe(200);
      yield* until(client.waitFor((t) => ids(t).includes("6")));
      expect(client.text).toBe(
        `id: 3\nevent: reset\ndata: {"cursor":"1","reason":"trimmed","resumeAfter":"3"}\n\n${client.text.slice(client.text.indexOf("id: 4"))}`,
      );
      expect(ids(client.text)).toEqual(["3", "4", "5", "6"]);
      yield* hub.publish("m7");
      yield* until(client.waitFor((t) => ids(t).includes("7")));
      client.close();
    });
  });

  it("starts a cursor from another run (ahead of the topic) from now after an event: reset", async () => {
    await run(function* () {
      const hub = yield* useHub<string>({ topic: "restarted" });
      const server = yield* useServer({
        handler: createRouter().get("/events", function* (ctx) {
          return sse(hub.subscribe({ after: ctx.lastEventId }), { heartbeatMs: 0 });
        }),
      });
      yield* hub.publish("before");
      const client = yield* until(openStream(`${server.url}/events`, { "last-event-id": "57" }));
      yield* until(client.waitFor((t) => t.includes("event: reset")));
      expect(client.text).toBe(
        'id: \nevent: reset\ndata: {"cursor":"57","reason":"ahead","resumeAfter":null}\n\n',
      );
      yield* hub.publish("after");
      yield* until(client.waitFor((t) => t.includes('"value":"after"')));
      expect(client.text).not.toContain('"value":"before"');
      client.close();
    });
  });

  it("encodes the reset event with the cursor to resume after", () => {
    expect(encodeResetEvent(new CursorExpiredError("5", "trimmed", "9"))).toBe(
      'id: 9\nevent: reset\ndata: {"cursor":"5","reason":"trimmed","resumeAfter":"9"}\n\n',
    );
  });
});
