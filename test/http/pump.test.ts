import type { ServerResponse } from "node:http";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createChannel, type Operation, run, type Stream, sleep, until } from "effection";
import { describe, expect, it } from "vitest";
import {
  createRouter,
  DEFAULT_MAX_BUFFERED_BYTES,
  ndjson,
  sse,
  useServer,
} from "../../src/http/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { openStream } from "./helpers.js";

checkLeaksAfterEach();

/** Always has another 64 KiB item ready: fills any client that stops reading. */
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

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/**
 * Process memory that a paused client can pin, after GC: the JS heap plus
 * `external` (which already includes `arrayBuffers`, where Buffers live).
 */
function memory(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Always has another item ready: 8 Ki non-Latin-1 characters (24 KiB of UTF-8, 16 KiB as a JS string), each a new string. */
const accented: Stream<string, never> = {
  *[Symbol.iterator]() {
    let n = 0;
    return {
      *next(): Operation<IteratorResult<string, never>> {
        return { done: false, value: `${n++}${"€".repeat(8 * 1024)}` };
      },
    };
  },
};

/** Reads a little of a stream and leaves (in its own frame, so nothing of it stays reachable). */
function* warmUp(url: string): Operation<void> {
  const warm = yield* until(openStream(url));
  yield* until(warm.waitFor((text) => text.length > 100_000));
  warm.close();
}

describe("stream pump (shared by sse and ndjson)", () => {
  for (const kind of ["ndjson", "sse"] as const) {
    it(`holds each paused ${kind} client to at most 1.5x the default cap in process memory, counting bytes`, async () => {
      await run(function* () {
        const responses: ServerResponse[] = [];
        const server = yield* useServer({
          handler: createRouter().get("/feed", function* (ctx) {
            responses.push(ctx.response);
            return kind === "sse"
              ? sse(accented, { heartbeatMs: 0 })
              : ndjson(accented, { heartbeatMs: 0 });
          }),
        });
        // warm up the code paths (compiled code is heap too), then take the baseline
        yield* warmUp(`${server.url}/feed`);
        while (server.active > 0) yield* sleep(5);
        responses.length = 0;
        const cap = DEFAULT_MAX_BUFFERED_BYTES;
        // several clients, so that the heap's own noise is shared out among them
        const n = 4;
        const before = memory();
        const clients = [];
        try {
          for (let i = 0; i < n; i++) {
            const client = yield* until(openStream(`${server.url}/feed`));
            client.pause();
            clients.push(client);
          }
          // each writer waits once one more 24 KiB item would go over the cap (kernel buffers fill first)
          const full = () =>
            responses.length === n && responses.every((r) => r.writableLength + 25 * 1024 > cap);
          while (!full()) yield* sleep(5);
          const buffered = Math.max(...responses.map((r) => r.writableLength));
          // the paused clients live in this process too: what each read before it paused is
          // a string it holds (2 bytes a character: the items are not Latin-1), measured and
          // taken off; their read buffers (a socket's highWaterMark is 64 KiB since Node 22)
          // are an allowance
          const held = clients.reduce((sum, client) => sum + client.text.length * 2, 0) / n;
          const cost = (memory() - before) / n - held;
          console.info(
            `${kind}: ${n} paused clients, at most ${(buffered / 1024).toFixed(0)} KiB buffered each, ${(cost / 1024).toFixed(0)} KiB of process memory each for a ${cap / 1024} KiB cap (clients' own reads, ${(held / 1024).toFixed(0)} KiB each, taken off)`,
          );
          expect(buffered).toBeLessThanOrEqual(cap);
          const clientBuffers = 256 * 1024;
          expect(cost).toBeLessThan(1.5 * cap + clientBuffers);
        } finally {
          for (const client of clients) client.close();
        }
      });
    });
  }

  it("reaps a connection that makes no progress for the missed-heartbeat window", async () => {
    await run(function* () {
      const server = yield* useServer({
        handler: createRouter().get("/firehose", function* () {
          return sse(firehose, { heartbeatMs: 50, missedHeartbeats: 2 });
        }),
      });
      const client = yield* until(openStream(`${server.url}/firehose`));
      client.pause(); // from the server's side, a paused reader and a vanished peer look the same
      while (server.active === 0) yield* sleep(1);
      const t0 = performance.now();
      while (server.active > 0 && performance.now() - t0 < 3000) yield* sleep(10);
      expect(server.active).toBe(0);
      // buffers fill first, then 2 windows of no progress: well under a second
      expect(performance.now() - t0).toBeLessThan(1500);
      client.close();
    });
  });

  it("keeps a slow but live reader, sending heartbeats only when idle", async () => {
    await run(function* () {
      const feed = createChannel<number, never>();
      const server = yield* useServer({
        handler: createRouter().get("/n", function* () {
          return ndjson(feed, { heartbeatMs: 30 });
        }),
      });
      const client = yield* until(openStream(`${server.url}/n`));
      yield* sleep(10);
      for (let i = 0; i < 3; i++) {
        yield* feed.send(i);
        yield* sleep(50);
      }
      yield* until(client.waitFor((t) => t.includes("2\n")));
      expect(server.active).toBe(1);
      const lines = client.text.split("\n");
      expect(lines.filter((l) => l !== "")).toEqual(["0", "1", "2"]);
      expect(lines.filter((l) => l === "").length).toBeGreaterThan(1);
      client.close();
    });
  });

  it("ends the response when the stream ends", async () => {
    await run(function* () {
      const finite: Stream<number, void> = {
        *[Symbol.iterator]() {
          let n = 0;
          return {
            *next(): Operation<IteratorResult<number, void>> {
              return n < 3 ? { done: false, value: n++ } : { done: true, value: undefined };
            },
          };
        },
      };
      const server = yield* useServer({
        handler: createRouter().get("/three", function* () {
          return ndjson(finite);
        }),
      });
      const client = yield* until(openStream(`${server.url}/three`));
      yield* until(client.ended);
      expect(client.text).toBe("0\n1\n2\n");
    });
  });

  it("closes, under the close policy, a stream whose client stops reading, logging it at debug level", async () => {
    const errors: unknown[] = [];
    const debug: string[] = [];
    await run(function* () {
      const server = yield* useServer({
        handler: createRouter().get("/firehose", function* () {
          return ndjson(firehose, {
            heartbeatMs: 0,
            maxBufferedBytes: 256 * 1024,
            policy: "close",
          });
        }),
        logger: { error: (_message, error) => errors.push(error), debug: (m) => debug.push(m) },
      });
      const client = yield* until(openStream(`${server.url}/firehose`));
      client.pause();
      const t0 = performance.now();
      yield* sleep(50);
      while (server.active > 0 && performance.now() - t0 < 3000) yield* sleep(10);
      expect(server.active).toBe(0);
      client.resume(); // a paused client only notices the close when it reads again
      yield* until(client.ended);
    });
    expect(errors).toEqual([]);
    expect(debug).toEqual(["client left: GET /firehose"]);
  });
});
