import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  createChannel,
  type Operation,
  run,
  type Stream,
  sleep,
  suspend,
  until,
  withResolvers,
} from "effection";
import { describe, expect, it } from "vitest";
import { ClockContext } from "../../src/core/clock.js";
import { readPanels } from "../../src/core/panels.js";
import {
  createRouter,
  createStreamWriter,
  DEFAULT_MAX_BUFFERED_BYTES,
  json,
  ndjson,
  type Server,
  StreamClosedError,
  sse,
  text,
  useRequestListener,
  useServer,
} from "../../src/http/index.js";
import { createVirtualClock } from "../../src/testing/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { deferred, openStream, rawConnect, request, wait } from "./helpers.js";

checkLeaksAfterEach();

/** A stream that always has another 64 KiB chunk ready: it fills any client that stops reading. */
const firehose: Stream<string, never> = {
  *[Symbol.iterator]() {
    const chunk = "x".repeat(64 * 1024);
    return {
      *next(): Operation<IteratorResult<string, never>> {
        return { done: false, value: chunk };
      },
    };
  },
};

/** Gives the event loop turns until `done()` holds (bounded): for counts that move when a socket closes. */
function* eventually(done: () => boolean): Operation<void> {
  for (let turn = 0; !done() && turn < 10_000; turn++) {
    yield* until(new Promise((resolve) => setImmediate(resolve)));
  }
}

function quietLogger() {
  const logged: { message: string; error: unknown }[] = [];
  return {
    logged,
    logger: { error: (message: string, error: unknown) => logged.push({ message, error }) },
  };
}

describe("useServer", () => {
  it("answers a handler that returns without suspending, without starting a task", async () => {
    await run(function* () {
      const server = yield* useServer({
        handler: function* () {
          return json({ hello: "world" });
        },
      });
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
      const res = yield* until(request(`${server.url}/`));
      expect(res.status).toBe(200);
      expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
      expect(JSON.parse(res.body)).toEqual({ hello: "world" });
      expect(server.active).toBe(0);
    });
  });

  it("runs a handler that suspends as its own task and answers when it returns", async () => {
    await run(function* () {
      const router = createRouter()
        .get("/slow", function* () {
          yield* sleep(5);
          return { slept: true };
        })
        .get("/nothing", function* () {});
      const server = yield* useServer({ handler: router });
      const slow = yield* until(request(`${server.url}/slow`));
      expect(slow.status).toBe(200);
      expect(JSON.parse(slow.body)).toEqual({ slept: true });
      const nothing = yield* until(request(`${server.url}/nothing`));
      expect(nothing.status).toBe(204);
      expect(server.active).toBe(0);
    });
  });

  it("halts the handler when the client disconnects, on the socket's close and no timer", async () => {
    const started = withResolvers<void>();
    const halted = withResolvers<void>();
    let aborted = false;
    // a virtual clock that never moves: the halt cannot come from a timeout, however slow the
    // machine (a wall-clock bound on it failed under load)
    const clock = createVirtualClock();
    await run(function* () {
      yield* ClockContext.set(clock);
      const router = createRouter().get("/hold", function* (ctx) {
        const signal = ctx.signal;
        ctx.response.writeHead(200, { "content-type": "text/plain" });
        ctx.response.write("holding\n");
        started.resolve();
        try {
          yield* suspend();
        } finally {
          aborted = signal.aborted;
          halted.resolve();
        }
      });
      const server = yield* useServer({ handler: router });
      const client = yield* until(openStream(`${server.url}/hold`));
      yield* started.operation;
      yield* until(client.waitFor((t) => t.includes("holding")));
      expect(server.active).toBe(1);
      client.close();
      yield* halted.operation;
      expect(clock.now()).toBe(0);
      expect(aborted).toBe(true);
      yield* until(wait(10));
      expect(server.active).toBe(0);
    });
  });

  it("shows the requests and streams in flight per route on the inspector's panel", async () => {
    await run(function* () {
      const feed = createChannel<string, never>();
      const router = createRouter()
        .get("/events/:topic", function* () {
          return sse(feed);
        })
        .get("/hold", function* (ctx) {
          ctx.response.writeHead(200, { "content-type": "text/plain" });
          ctx.response.write("holding\n");
          yield* suspend();
        })
        .get("/now", function* () {
          return json("at once");
        });
      const server = yield* useServer({ handler: router });
      const panel = () => readPanels().find((p) => p.kind === "http" && p.name === server.url);
      const routes = () => panel()?.values.routes as Record<string, number>;
      expect(panel()?.values).toEqual({ open: 0, routes: {} });
      const a = yield* until(openStream(`${server.url}/events/a`));
      const b = yield* until(openStream(`${server.url}/events/b`));
      const hold = yield* until(openStream(`${server.url}/hold`));
      yield* until(hold.waitFor((t) => t.includes("holding")));
      yield* until(request(`${server.url}/now`)); // answered without suspending: never in flight
      expect(panel()?.values).toEqual({
        open: 3,
        routes: { "GET /events/:topic": 2, "GET /hold": 1 },
      });
      a.close();
      hold.close();
      yield* eventually(() => routes()["GET /events/:topic"] === 1 && !("GET /hold" in routes()));
      expect(panel()?.values).toEqual({ open: 1, routes: { "GET /events/:topic": 1 } });
      b.close();
      yield* eventually(() => server.active === 0);
      expect(routes()).toEqual({});
    });
  });

  it("gives a throwing handler's client a 500 with a JSON error and a logged stack, and nothing else", async () => {
    const { logged, logger } = quietLogger();
    const feed = createChannel<string, never>();
    await run(function* () {
      const router = createRouter()
        .get("/boom", function* () {
          throw new Error("kaboom");
        })
        .get("/later", function* () {
          yield* sleep(1);
          throw new TypeError("late kaboom");
        })
        .get("/feed", function* () {
          return ndjson(feed, { heartbeatMs: 0 });
        })
        .get("/ok", function* () {
          return text("still here");
        });
      const server = yield* useServer({ handler: router, logger });
      const stream = yield* until(openStream(`${server.url}/feed`));
      yield* sleep(5);
      yield* feed.send("before");
      yield* until(stream.waitFor((t) => t.includes('"before"')));

      const boom = yield* until(request(`${server.url}/boom`));
      expect(boom.status).toBe(500);
      expect(boom.headers["content-type"]).toContain("application/json");
      expect(JSON.parse(boom.body)).toHaveProperty("error");
      const later = yield* until(request(`${server.url}/later`));
      expect(later.status).toBe(500);
      expect(JSON.parse(later.body)).toEqual({ error: "internal server error" });

      expect(logged).toHaveLength(2);
      expect(logged[0].message).toContain("GET /boom");
      expect((logged[0].error as Error).stack).toContain("kaboom");
      expect((logged[1].error as Error).stack).toContain("late kaboom");

      yield* feed.send("after");
      yield* until(stream.waitFor((t) => t.includes('"after"')));
      const ok = yield* until(request(`${server.url}/ok`));
      expect(ok.body).toBe("still here");
      stream.close();
    });
  });

  it("shuts down: 503 to new requests, a final SSE event, then destroys a paused client when the grace ends", async () => {
    // the grace runs on a virtual clock: exact, and no loaded machine can stretch it
    const grace = 300;
    const clock = createVirtualClock();
    const ready = deferred<Server>();
    const idle = createChannel<string, never>();
    let firehoseResponse: ServerResponse | undefined;
    const task = run(function* () {
      yield* ClockContext.set(clock);
      const router = createRouter()
        .get("/events", function* () {
          return sse(idle, { heartbeatMs: 0 });
        })
        .get("/firehose", function* (ctx) {
          firehoseResponse = ctx.response;
          return ndjson(firehose, { heartbeatMs: 0 });
        })
        .get("/ok", function* () {
          return text("ok");
        });
      ready.resolve(yield* useServer({ handler: router, shutdownGraceMs: grace }));
      yield* suspend();
    });
    const server = await ready.promise;
    try {
      const listener = await openStream(`${server.url}/events`);
      const paused = await openStream(`${server.url}/firehose`);
      paused.pause();
      // the kernel's buffers are full once the writer holds nearly its whole cap in user space:
      // from then on the paused client's response cannot end by itself
      const full = () =>
        (firehoseResponse?.writableLength ?? 0) + 64 * 1024 > DEFAULT_MAX_BUFFERED_BYTES;
      while (!full()) await wait(5);
      expect(server.active).toBe(2);

      let stopped = false;
      // a task's halt() starts when awaited: Promise.resolve() starts it now
      const stopping = Promise.resolve(task.halt()).then(() => {
        stopped = true;
      });
      // streams are told to finish after new requests are refused
      await listener.waitFor((t) => t.includes("event: shutdown"));
      const late = await request(`${server.url}/ok`);
      expect(late.status).toBe(503);
      expect(JSON.parse(late.body)).toEqual({ error: "server is shutting down" });
      await listener.ended;
      // the paused client holds the shutdown open until the grace ends, not a moment less
      while (clock.pending === 0) await wait(1);
      await clock.advance(grace - 1);
      await wait(20);
      expect(stopped).toBe(false);
      expect(server.active).toBe(1);
      await clock.advance(1);
      await stopping;
      paused.close();
    } finally {
      await task.halt();
    }
  });

  it("mounts bough handlers in an existing node:http server", async () => {
    const legacy = createServer();
    await new Promise<void>((resolve) => legacy.listen(0, "127.0.0.1", resolve));
    const port = (legacy.address() as AddressInfo).port;
    try {
      await run(function* () {
        const router = createRouter().get("/api/slow", function* () {
          yield* sleep(5);
          return json({ from: "bough" });
        });
        const bough = yield* useRequestListener({ handler: router });
        legacy.on("request", (req, res) => {
          if (req.url?.startsWith("/api/")) bough.request(req, res);
          else res.end("legacy");
        });
        const api = yield* until(request(`http://127.0.0.1:${port}/api/slow`));
        expect(JSON.parse(api.body)).toEqual({ from: "bough" });
        const old = yield* until(request(`http://127.0.0.1:${port}/home`));
        expect(old.body).toBe("legacy");
        expect(bough.active).toBe(0);
      });
      // the scope is gone: bough's routes answer 503, the server stays the app's
      const after = await request(`http://127.0.0.1:${port}/api/slow`);
      expect(after.status).toBe(503);
    } finally {
      await new Promise((resolve) => legacy.close(resolve));
    }
  });

  it("finishes shutdown at once when nothing is open", async () => {
    const ready = deferred<Server>();
    const task = run(function* () {
      ready.resolve(
        yield* useServer({
          handler: function* () {
            return json(1);
          },
          shutdownGraceMs: 5000,
        }),
      );
      yield* suspend();
    });
    const server = await ready.promise;
    expect((await request(server.url)).status).toBe(200);
    const t0 = performance.now();
    await task.halt();
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it("logs a client that leaves a stream at debug level only, never as a handler failure", async () => {
    const errors: unknown[] = [];
    const debug: string[] = [];
    const logger = {
      error: (message: string, error: unknown) => errors.push([message, error]),
      debug: (message: string) => debug.push(message),
    };
    await run(function* () {
      const router = createRouter()
        .get("/sse", function* () {
          return sse(firehose, { heartbeatMs: 0 });
        })
        .get("/ndjson", function* () {
          return ndjson(firehose, { heartbeatMs: 0 });
        })
        .get("/raw", function* (ctx) {
          ctx.response.writeHead(200, { "content-type": "text/plain" });
          const writer = createStreamWriter(ctx.response);
          yield* writer.write("first\n");
          yield* sleep(1);
          throw new StreamClosedError(); // as a write after the client left would
        })
        .get("/reset", function* () {
          yield* sleep(1);
          throw Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
        });
      const server = yield* useServer({ handler: router, logger });
      for (let round = 0; round < 5; round++) {
        for (const path of ["/sse", "/ndjson"]) {
          const client = yield* until(openStream(`${server.url}${path}`));
          yield* until(client.waitFor((t) => t.length > 0));
          client.close();
        }
      }
      const raw = yield* until(openStream(`${server.url}/raw`));
      yield* until(raw.ended);
      const reset = yield* until(request(`${server.url}/reset`));
      expect(reset.status).toBe(500);
      while (server.active > 0) yield* sleep(1);
    });
    expect(errors).toEqual([]);
    expect(debug).toContain("client left: GET /raw");
    expect(debug).toContain("client left: GET /reset");
    expect(debug.every((m) => m.startsWith("client left: ") && !m.includes("failed"))).toBe(true);
  });

  it("closes a slowloris connection within the headers timeout and a stalled body within the request timeout", async () => {
    await run(function* () {
      const headersTimeoutMs = 300;
      const server = yield* useServer({
        headersTimeoutMs,
        requestTimeoutMs: 600,
        handler: createRouter()
          .post("/upload", function* (ctx) {
            return json({ bytes: (yield* ctx.body()).length });
          })
          .get("/events", function* () {
            return sse(createChannel<string, never>(), { heartbeatMs: 0 });
          }),
        logger: { error: () => {} },
      });
      // slowloris: one header line every 50 ms, never the blank line that ends them
      const slow = yield* until(rawConnect(server.port));
      const started = performance.now();
      slow.write("GET /events HTTP/1.1\r\nHost: x\r\n");
      let received = "";
      slow.on("data", (chunk: Buffer) => {
        received += chunk.toString();
      });
      const drip = setInterval(() => slow.write(`X-Slow-${Math.random()}: 1\r\n`), 50);
      const closed = new Promise<void>((resolve) => slow.once("close", () => resolve()));
      slow.on("error", () => {});
      yield* until(closed);
      clearInterval(drip);
      const headersClosedMs = performance.now() - started;
      expect(received).toMatch(/^HTTP\/1.1 408/);
      // node checks on an interval of a quarter of the timeout (+ slack for a busy machine)
      expect(headersClosedMs).toBeGreaterThanOrEqual(headersTimeoutMs - 5);
      // generous on a loaded 2-core machine; Node's own default closed slowloris after ~89 s
      expect(headersClosedMs).toBeLessThan(headersTimeoutMs * 4 + 2000);

      // a body that never finishes
      const stalled = yield* until(rawConnect(server.port));
      const bodyStarted = performance.now();
      stalled.write("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly a part");
      let answer = "";
      stalled.on("data", (chunk: Buffer) => {
        answer += chunk.toString(); // reading is what lets the socket see the server's close
      });
      stalled.on("error", () => {});
      yield* until(new Promise<void>((resolve) => stalled.once("close", () => resolve())));
      const bodyClosedMs = performance.now() - bodyStarted;
      expect(answer).toMatch(/^HTTP\/1.1 408/);
      expect(bodyClosedMs).toBeLessThan(600 * 4 + 2000);

      // a stream that lives longer than the request timeout is not cut
      const stream = yield* until(openStream(`${server.url}/events`));
      yield* until(wait(900));
      expect(stream.response.destroyed).toBe(false);
      expect(server.active).toBe(1);
      stream.close();
      while (server.active > 0) yield* sleep(1);
    });
  });

  it("refuses a headers timeout longer than the request timeout", async () => {
    const attempt = run(function* () {
      yield* useServer({ headersTimeoutMs: 2000, requestTimeoutMs: 1000, handler: createRouter() });
    });
    await expect(attempt).rejects.toThrow(/must not exceed requestTimeoutMs/);
  });

  it("closes an idle keep-alive connection after keepAliveTimeoutMs", async () => {
    await run(function* () {
      const server = yield* useServer({
        keepAliveTimeoutMs: 200,
        handler: createRouter().get("/", function* () {
          return text("hi");
        }),
      });
      const socket = yield* until(rawConnect(server.port));
      let received = "";
      socket.on("data", (chunk: Buffer) => {
        received += chunk.toString();
      });
      const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
      socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      const sent = performance.now();
      yield* until(closed);
      const idleMs = performance.now() - sent;
      expect(received).toMatch(/^HTTP\/1.1 200[\s\S]*keep-alive[\s\S]*hi$/i);
      // node keeps the socket 1 s longer than the Keep-Alive header it sent says
      expect(idleMs).toBeGreaterThanOrEqual(190);
      expect(idleMs).toBeLessThan(200 + 1000 + 3000);
    });
  });
});
