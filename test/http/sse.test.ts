import { createChannel, run, sleep, until } from "effection";
import { describe, expect, it } from "vitest";
import { createRouter, encodeEvent, sse, useServer } from "../../src/http/index.js";
import { useHub } from "../../src/hub/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { openStream } from "./helpers.js";

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
    await run(function* () {
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
      const closedAt = performance.now();
      for (const client of clients) client.close();
      while (hub.stats().subscribers > baseline && performance.now() - closedAt < 2000) {
        yield* sleep(1);
      }
      expect(hub.stats().subscribers).toBe(baseline);
      expect(performance.now() - closedAt).toBeLessThan(100);
      expect(server.active).toBe(0);
    });
  });
});
