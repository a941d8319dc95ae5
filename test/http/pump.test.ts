import { createChannel, type Operation, run, type Stream, sleep, until } from "effection";
import { describe, expect, it } from "vitest";
import { createRouter, ndjson, sse, useServer } from "../../src/http/index.js";
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

describe("stream pump (shared by sse and ndjson)", () => {
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

  it("closes, under the close policy, a stream whose client stops reading", async () => {
    const logged: string[] = [];
    await run(function* () {
      const server = yield* useServer({
        logger: { error: (message, error) => logged.push(`${message} ${(error as Error).name}`) },
        handler: createRouter().get("/firehose", function* () {
          return ndjson(firehose, {
            heartbeatMs: 0,
            maxBufferedBytes: 256 * 1024,
            policy: "close",
          });
        }),
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
    expect(logged).toEqual(["handler failed: GET /firehose SlowConsumerError"]);
  });
});
