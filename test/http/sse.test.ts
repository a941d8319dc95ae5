import { createChannel, ensure, type Operation, run, type Stream, sleep, until } from "effection";
import { describe, expect, it } from "vitest";
import { createRouter, encodeEvent, sse, useServer } from "../../src/http/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { openStream, wait } from "./helpers.js";

checkLeaksAfterEach();

interface Message {
  id: string;
  seq: number;
  value: string;
}

/**
 * A tiny append-only log with cursors, standing in for the hub: `subscribe(after)`
 * replays what follows the cursor, then goes live; `subscribers` counts open subscriptions.
 */
function createLog() {
  const messages: Message[] = [];
  const live = createChannel<Message, never>();
  let subscribers = 0;
  return {
    get subscribers() {
      return subscribers;
    },
    *publish(value: string): Operation<Message> {
      const message = { id: `${messages.length + 1}-0`, seq: messages.length + 1, value };
      messages.push(message);
      yield* live.send(message);
      return message;
    },
    subscribe(after?: string): Stream<Message, never> {
      return {
        *[Symbol.iterator]() {
          const subscription = yield* live;
          subscribers++;
          const start = after === undefined ? messages.length : Number(after.split("-")[0]);
          const backlog = messages.slice(start);
          let last = backlog.at(-1)?.seq ?? start;
          yield* ensure(() => {
            subscribers--;
          });
          return {
            *next(): Operation<IteratorResult<Message, never>> {
              const queued = backlog.shift();
              if (queued) return { done: false, value: queued };
              for (;;) {
                const next = yield* subscription.next();
                if (next.done) return next;
                if (next.value.seq > last) {
                  last = next.value.seq;
                  return next;
                }
              }
            },
          };
        },
      };
    },
  };
}

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
      const log = createLog();
      const server = yield* useServer({
        handler: createRouter().get("/events", function* (ctx) {
          return sse(log.subscribe(ctx.lastEventId), {
            heartbeatMs: 40,
            event: () => "tick",
            data: (m) => JSON.stringify(m.value),
            retryMs: 2000,
          });
        }),
      });
      const client = yield* until(openStream(`${server.url}/events`));
      yield* until(client.waitFor((t) => t.startsWith("retry: 2000\n\n")));
      while (log.subscribers === 0) yield* sleep(1);
      yield* log.publish("one");
      yield* log.publish("two");
      yield* until(client.waitFor((t) => t.includes('data: "two"')));
      expect(client.text).toContain('id: 1-0\nevent: tick\ndata: "one"\n\n');
      yield* until(client.waitFor((t) => t.split(":\n\n").length >= 3, 2000));
      client.close();
    });
  });

  it("resumes from Last-Event-ID with no gap and no duplicate", async () => {
    await run(function* () {
      const log = createLog();
      const server = yield* useServer({
        handler: createRouter().get("/events", function* (ctx) {
          return sse(log.subscribe(ctx.lastEventId), { heartbeatMs: 0 });
        }),
      });
      const first = yield* until(openStream(`${server.url}/events`));
      while (log.subscribers === 0) yield* sleep(1);
      for (let i = 1; i <= 5; i++) yield* log.publish(`m${i}`);
      yield* until(first.waitFor((t) => ids(t).length === 5));
      const seen = ids(first.text);
      first.close();
      while (log.subscribers > 0) yield* sleep(1);
      // published while the client was away
      for (let i = 6; i <= 8; i++) yield* log.publish(`m${i}`);
      const second = yield* until(
        openStream(`${server.url}/events`, { "last-event-id": seen.at(-1)! }),
      );
      while (log.subscribers === 0) yield* sleep(1);
      yield* log.publish("m9");
      yield* until(second.waitFor((t) => ids(t).includes("9-0")));
      const all = [...seen, ...ids(second.text)];
      expect(all).toEqual(["1-0", "2-0", "3-0", "4-0", "5-0", "6-0", "7-0", "8-0", "9-0"]);
      second.close();
    });
  });

  it("halts the stream when the client leaves, returning the subscriber count to its baseline", async () => {
    await run(function* () {
      const log = createLog();
      const server = yield* useServer({
        handler: createRouter().get("/events", function* () {
          return sse(log.subscribe(), { heartbeatMs: 0 });
        }),
      });
      const clients = [];
      for (let i = 0; i < 5; i++) clients.push(yield* until(openStream(`${server.url}/events`)));
      while (log.subscribers < 5) yield* sleep(1);
      expect(server.active).toBe(5);
      for (const client of clients) client.close();
      yield* until(wait(50));
      expect(log.subscribers).toBe(0);
      expect(server.active).toBe(0);
    });
  });
});
