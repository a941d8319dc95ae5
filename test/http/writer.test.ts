import { type Operation, run, sleep, spawn, suspend, until } from "effection";
import { describe, expect, it } from "vitest";
import {
  type BackpressurePolicy,
  createRouter,
  createStreamWriter,
  SlowConsumerError,
  StreamClosedError,
  type StreamWriter,
  useServer,
} from "../../src/http/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { deferred, openStream } from "./helpers.js";

checkLeaksAfterEach();

const CAP = 256 * 1024;
const CHUNK = "z".repeat(64 * 1024);

/** A server whose /raw route hands its writer to the test and then waits. */
function* writerServer(policy: BackpressurePolicy) {
  const captured = deferred<StreamWriter>();
  const router = createRouter().get("/raw", function* (ctx) {
    ctx.response.writeHead(200, { "content-type": "text/plain" });
    ctx.response.flushHeaders();
    captured.resolve(createStreamWriter(ctx.response, { maxBufferedBytes: CAP, policy }));
    yield* suspend();
  });
  const server = yield* useServer({ handler: router });
  return { server, writer: captured.promise };
}

function* writeUntilBlocked(writer: StreamWriter, counter: { n: number }): Operation<void> {
  for (;;) {
    yield* writer.write(CHUNK);
    counter.n++;
  }
}

describe("createStreamWriter", () => {
  it("never reports success for a write to a disconnected client", async () => {
    await run(function* () {
      const { server, writer: pending } = yield* writerServer("wait");
      const client = yield* until(openStream(`${server.url}/raw`));
      const writer = yield* until(pending);
      expect(yield* writer.write("hello\n")).toBe(true);
      yield* until(client.waitFor((t) => t.includes("hello")));
      client.close();
      // the server sees the close when its socket does: wait for that, not for a fixed time
      for (let turn = 0; !writer.closed && turn < 10_000; turn++) {
        yield* until(new Promise((resolve) => setImmediate(resolve)));
      }
      expect(writer.closed).toBe(true);
      let failure: unknown;
      try {
        yield* writer.write("anyone there?\n");
      } catch (error) {
        failure = error;
      }
      expect(failure).toBeInstanceOf(StreamClosedError);
      expect((failure as StreamClosedError).code).toBe("BOUGH_HTTP_STREAM_CLOSED");
    });
  });

  it("delivers bursts larger than the cap to a reading client (waits end on the socket's drain)", async () => {
    await run(function* () {
      const { server, writer: pending } = yield* writerServer("wait");
      const client = yield* until(openStream(`${server.url}/raw`));
      const writer = yield* until(pending);
      // 8 bursts of 6 chunks, each burst 1.5 times the cap in one turn: the writer waits on
      // 'drain' within each (on Node 22 a corked response never emitted it once the kernel
      // took the bytes at once, nodejs/node#60432)
      for (let burst = 0; burst < 8; burst++) {
        for (let i = 0; i < 6; i++) yield* writer.write(CHUNK);
      }
      const total = 8 * 6 * CHUNK.length;
      yield* until(client.waitFor((t) => t.length === total));
      client.close();
    });
  });

  it("fails a write that was waiting for a paused client when the client leaves", async () => {
    await run(function* () {
      const { server, writer: pending } = yield* writerServer("wait");
      const client = yield* until(openStream(`${server.url}/raw`));
      client.pause();
      const writer = yield* until(pending);
      const counter = { n: 0 };
      const outcome = deferred<unknown>();
      yield* spawn(function* () {
        try {
          yield* writeUntilBlocked(writer, counter);
        } catch (error) {
          outcome.resolve(error);
        }
      });
      // wait until the writer is blocked on the cap
      for (let i = 0; i < 100 && writer.buffered + CHUNK.length <= CAP; i++) yield* sleep(20);
      const blockedAt = counter.n;
      yield* sleep(100);
      expect(counter.n).toBe(blockedAt);
      client.close();
      expect(yield* until(outcome.promise)).toBeInstanceOf(StreamClosedError);
    });
  });

  it("keeps a paused client's buffer under the cap and the process's memory flat (wait)", async () => {
    await run(function* () {
      const { server, writer: pending } = yield* writerServer("wait");
      const client = yield* until(openStream(`${server.url}/raw`));
      client.pause();
      const writer = yield* until(pending);
      const counter = { n: 0 };
      const rss0 = process.memoryUsage().rss;
      yield* spawn(() => writeUntilBlocked(writer, counter));
      for (let i = 0; i < 100 && writer.buffered + CHUNK.length <= CAP; i++) yield* sleep(20);
      yield* sleep(200);
      expect(writer.buffered).toBeLessThanOrEqual(CAP + CHUNK.length);
      // the operation-free variant says "wait" instead of writing past the cap
      expect(writer.tryWrite(CHUNK)).toBeUndefined();
      const grown = process.memoryUsage().rss - rss0;
      expect(grown).toBeLessThan(32 * 1024 * 1024);
      client.close();
    });
  });

  it("drops what does not fit under the cap (drop)", async () => {
    await run(function* () {
      const { server, writer: pending } = yield* writerServer("drop");
      const client = yield* until(openStream(`${server.url}/raw`));
      client.pause();
      const writer = yield* until(pending);
      yield* sleep(20);
      const rss0 = process.memoryUsage().rss;
      let written = 0;
      // 1,024 × 64 KiB = 64 MiB offered to a client that reads nothing
      for (let i = 0; i < 1024; i++) {
        if (yield* writer.write(CHUNK)) written++;
        expect(writer.buffered).toBeLessThanOrEqual(CAP);
        if (i % 64 === 0) yield* sleep(1);
      }
      expect(writer.dropped).toBeGreaterThan(900);
      expect(written + writer.dropped).toBe(1024);
      expect(process.memoryUsage().rss - rss0).toBeLessThan(32 * 1024 * 1024);
      client.close();
    });
  });

  it("closes the connection of a client that falls too far behind (close)", async () => {
    await run(function* () {
      const { server, writer: pending } = yield* writerServer("close");
      const client = yield* until(openStream(`${server.url}/raw`));
      client.pause();
      const writer = yield* until(pending);
      let failure: unknown;
      try {
        for (let i = 0; i < 10_000; i++) {
          yield* writer.write(CHUNK);
          if (i % 16 === 0) yield* sleep(1);
        }
      } catch (error) {
        failure = error;
      }
      expect(failure).toBeInstanceOf(SlowConsumerError);
      expect(writer.closed).toBe(true);
      client.resume(); // a paused client only notices the close when it reads again
      yield* until(client.ended);
    });
  });
});
