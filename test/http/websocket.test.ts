import { each, run, sleep, spawn, suspend, until } from "effection";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { ClockContext } from "../../src/core/clock.js";
import {
  createRouter,
  type Server,
  useServer,
  type WebSocketConnection,
} from "../../src/http/index.js";
import { createVirtualClock } from "../../src/testing/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { deferred, wait } from "./helpers.js";

checkLeaksAfterEach();

interface Client {
  ws: WebSocket;
  messages: string[];
  closed: Promise<{ code: number; reason: string }>;
  waitFor(n: number, timeoutMs?: number): Promise<void>;
}

function connect(url: string, options: { autoPong?: boolean } = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    const messages: string[] = [];
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.on("close", (code, reason) => r({ code, reason: reason.toString() })),
    );
    ws.on("message", (data) => messages.push(data.toString()));
    ws.on("error", () => {});
    ws.once("open", () =>
      resolve({
        ws,
        messages,
        closed,
        async waitFor(n, timeoutMs = 5000) {
          const t0 = Date.now();
          while (messages.length < n) {
            if (Date.now() - t0 > timeoutMs) throw new Error(`got ${messages.length} of ${n}`);
            await wait(5);
          }
        },
      }),
    );
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function* echo(socket: WebSocketConnection) {
  for (const message of yield* each(socket.messages)) {
    if (message === "boom") throw new Error("handler exploded");
    yield* socket.send(typeof message === "string" ? `echo:${message}` : message);
    yield* each.next();
  }
}

const quiet = { error: () => {} };

describe("router.ws", () => {
  it("runs a handler per socket that reads messages and sends replies", async () => {
    await run(function* () {
      const server = yield* useServer({ handler: createRouter().ws("/ws", echo), logger: quiet });
      const client = yield* until(connect(`ws://127.0.0.1:${server.port}/ws`));
      client.ws.send("hi");
      client.ws.send("there");
      yield* until(client.waitFor(2));
      expect(client.messages).toEqual(["echo:hi", "echo:there"]);
      expect(server.active).toBe(1);
      client.ws.close(1000);
      yield* until(client.closed);
      yield* until(wait(20));
      expect(server.active).toBe(0);
    });
  });

  it("refuses an upgrade on an unknown path with 404", async () => {
    await run(function* () {
      const server = yield* useServer({ handler: createRouter().ws("/ws", echo) });
      let failure: unknown;
      try {
        yield* until(connect(`ws://127.0.0.1:${server.port}/elsewhere`));
      } catch (error) {
        failure = error;
      }
      expect(String(failure)).toContain("HTTP 404");
    });
  });

  it("closes only the failing socket, with 1011", async () => {
    const logged: unknown[] = [];
    await run(function* () {
      const server = yield* useServer({
        handler: createRouter().ws("/ws", echo),
        logger: { error: (_m, e) => logged.push(e) },
      });
      const a = yield* until(connect(`ws://127.0.0.1:${server.port}/ws`));
      const b = yield* until(connect(`ws://127.0.0.1:${server.port}/ws`));
      a.ws.send("boom");
      const closed = yield* until(a.closed);
      expect(closed.code).toBe(1011);
      expect((logged[0] as Error).message).toBe("handler exploded");
      b.ws.send("still");
      yield* until(b.waitFor(1));
      expect(b.messages).toEqual(["echo:still"]);
      b.ws.close();
      yield* until(b.closed);
    });
  });

  it("closes with 1002 on a protocol error and 1007 on invalid UTF-8", async () => {
    await run(function* () {
      const server = yield* useServer({ handler: createRouter().ws("/ws", echo) });
      const unmasked = yield* until(connect(`ws://127.0.0.1:${server.port}/ws`));
      // a client frame without a mask is a protocol error
      (unmasked.ws as unknown as { _socket: NodeJS.WritableStream })._socket.write(
        Buffer.from([0x81, 0x02, 0x68, 0x69]),
      );
      expect((yield* until(unmasked.closed)).code).toBe(1002);

      const badText = yield* until(connect(`ws://127.0.0.1:${server.port}/ws`));
      // a masked text frame (mask 0) whose payload 0xff 0xfe is not UTF-8
      (badText.ws as unknown as { _socket: NodeJS.WritableStream })._socket.write(
        Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe]),
      );
      expect((yield* until(badText.closed)).code).toBe(1007);
      yield* until(wait(20));
      expect(server.active).toBe(0);
    });
  });

  it("keeps answering sockets alive with pings and terminates silent ones", async () => {
    // on the virtual clock: under load a real 40 ms interval could outrun the live client's pong
    const clock = createVirtualClock();
    await run(function* () {
      yield* ClockContext.set(clock);
      const server = yield* useServer({
        handler: createRouter().ws("/ws", echo, { pingIntervalMs: 40 }),
      });
      const live = yield* until(connect(`ws://127.0.0.1:${server.port}/ws`));
      const silent = yield* until(connect(`ws://127.0.0.1:${server.port}/ws`, { autoPong: false }));
      let pings = 0;
      live.ws.on("ping", () => {
        pings++;
        // the pong went out before this event; an echo behind it proves the server read it
        live.ws.send(`after ping ${pings}`);
      });
      // the first beat pings both; the second finds the silent one's ping unanswered
      for (let beat = 1; beat <= 3; beat++) {
        yield* until(clock.advance(40));
        yield* until(live.waitFor(beat));
        if (beat === 2) {
          const gone = yield* until(silent.closed);
          expect(gone.code).toBe(1006); // terminated, no close frame
        }
      }
      expect(live.messages).toEqual([
        "echo:after ping 1",
        "echo:after ping 2",
        "echo:after ping 3",
      ]);
      expect(live.ws.readyState).toBe(WebSocket.OPEN);
      live.ws.close();
      yield* until(live.closed);
    });
  });

  it("holds send() while bufferedAmount is over the cap", async () => {
    const connection = deferred<WebSocketConnection>();
    const logged: string[] = [];
    await run(function* () {
      let sent = 0;
      const server = yield* useServer({
        logger: { error: (message, error) => logged.push(`${message} ${(error as Error).name}`) },
        handler: createRouter().ws(
          "/ws",
          function* (socket) {
            connection.resolve(socket);
            const chunk = "w".repeat(64 * 1024);
            for (;;) {
              yield* socket.send(chunk);
              sent++;
            }
          },
          { maxBufferedBytes: 256 * 1024 },
        ),
      });
      const client = yield* until(connect(`ws://127.0.0.1:${server.port}/ws`));
      (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const socket = yield* until(connection.promise);
      let stable = -1;
      for (let i = 0; i < 100 && stable !== sent; i++) {
        stable = sent;
        yield* sleep(50);
      }
      expect(stable).toBe(sent); // the handler is held, not spinning or buffering without bound
      expect(socket.bufferedAmount).toBeLessThanOrEqual(256 * 1024 + 64 * 1024);
      client.ws.terminate();
      yield* until(client.closed);
    });
    // the held send() may fail once the client is gone: that is the only failure allowed
    expect(
      logged.filter((line) => line !== "WebSocket handler failed: /ws StreamClosedError"),
    ).toEqual([]);
  });

  it("closes open sockets with 1001 on shutdown", async () => {
    const ready = deferred<Server>();
    const task = run(function* () {
      ready.resolve(
        yield* useServer({
          handler: createRouter().ws("/ws", function* (socket) {
            yield* spawn(function* () {
              yield* socket.send("welcome");
            });
            yield* suspend();
          }),
          shutdownGraceMs: 1000,
        }),
      );
      yield* suspend();
    });
    try {
      const server = await ready.promise;
      const client = await connect(`ws://127.0.0.1:${server.port}/ws`);
      await client.waitFor(1);
      const t0 = performance.now();
      const stopped = Promise.resolve(task.halt());
      const closed = await client.closed;
      expect(closed.code).toBe(1001);
      await stopped;
      expect(performance.now() - t0).toBeLessThan(1000);
    } finally {
      await task.halt();
    }
  });
});
