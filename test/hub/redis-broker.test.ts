import { SpanKind } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { type Operation, resource, run, scoped, sleep, spawn, until } from "effection";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { labelled } from "../../src/core/labels.js";
import {
  CursorExpiredError,
  type Message,
  PublishTimeoutError,
  UnserializableValueError,
  useHub,
} from "../../src/hub/index.js";
import { redisBroker, useRedisBroker } from "../../src/hub/redis.js";
import { useTracing } from "../../src/otel/tracing.js";
import { useRedisServer } from "../../src/testing/redis-server.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { thrown } from "../helpers/thrown.js";
import { type PlainSpan, plainSpan, spanShapes } from "../otel/span-tree.js";
import { useChild } from "./fixtures/child.js";

const SUBSCRIBER = "test/hub/fixtures/subscriber.ts";
const TRACED_PUBLISHER = "test/fixtures/traced-publisher.ts";

checkLeaksAfterEach();

function* take<T>(
  sub: { next(): Operation<IteratorResult<Message<T>, never>> },
  n: number,
): Operation<Message<T>[]> {
  const out: Message<T>[] = [];
  for (let i = 0; i < n; i++) out.push((yield* sub.next()).value);
  return out;
}

/** Orders two stream ids (small enough for numbers here). */
function compareIds(a: string, b: string): number {
  const [x, y] = [a, b].map((id) => id.split("-").map(Number));
  return x[0] - y[0] || x[1] - y[1];
}

/** An entry's fields as an object. */
function fields([, list]: [string, string[]]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i]] = list[i + 1];
  return out;
}

function useRawClient(url: string): Operation<Redis> {
  return resource(function* (provide) {
    const client = new Redis(url);
    try {
      yield* provide(client);
    } finally {
      client.disconnect();
    }
  });
}

describe("redisBroker", () => {
  it("delivers across brokers in order, with stream entry ids as cursors", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const a = yield* useHub<{ n: number }>({
        topic: "t",
        broker: redisBroker({ url: redis.url }),
      });
      const b = yield* useHub<{ n: number }>({
        topic: "t",
        broker: redisBroker({ url: redis.url }),
      });
      const sub = yield* b.subscribe();
      const first = yield* a.publish({ n: 0 });
      expect(first.id).toMatch(/^\d+-\d+$/);
      expect(first.seq).toBe(1);
      expect(Math.abs(first.time - Date.now())).toBeLessThan(5_000);
      for (let n = 1; n < 50; n++) yield* a.publish({ n });
      const got = yield* take(sub, 50);
      expect(got.map((m) => m.value.n)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(got.map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(got[0].id).toBe(first.id);
      expect((yield* b.latest())?.value).toEqual({ n: 49 });
      expect((yield* b.next(first.id)).value).toEqual({ n: 1 });
      expect((yield* b.next("0")).id).toBe(first.id);
    });
  });

  it("numbers the messages of concurrent publishers in many brokers 1, 2, 3… in the stream's own order", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const raw = yield* useRawClient(redis.url);
      const brokers = [];
      for (let b = 0; b < 3; b++) brokers.push(yield* useRedisBroker({ url: redis.url }));
      const hubs = [];
      for (const broker of brokers) hubs.push(yield* useHub<string>({ topic: "t", broker }));
      const sub = yield* hubs[0].subscribe({ buffer: 1_000 });
      const published: Message<string>[] = [];
      const loops = [];
      for (const [b, hub] of hubs.entries()) {
        for (let loop = 0; loop < 8; loop++) {
          loops.push(
            yield* spawn(function* () {
              for (let n = 0; n < 20; n++) published.push(yield* hub.publish(`${b}.${loop}.${n}`));
            }),
          );
        }
      }
      for (const loop of loops) yield* loop;
      // the reference is the stream itself: its n-th entry must be seq n, whoever wrote it
      const entries = (yield* until(raw.xrange("bough:hub:{t}", "-", "+"))) as [string, string[]][];
      expect(entries).toHaveLength(480);
      const seqOf = new Map(published.map((m) => [m.id, m.seq]));
      expect(entries.map(([id]) => seqOf.get(id))).toEqual(entries.map((_, i) => i + 1));
      const got = yield* take(sub, 480);
      expect(got.map((m) => [m.id, m.seq, m.value])).toEqual(
        entries.map(([id], i) => [id, i + 1, JSON.parse(fields(entries[i]).v)]),
      );
    });
  });

  it("reads a stream an earlier version wrote, and keeps its ids increasing when someone else appends", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const raw = yield* useRawClient(redis.url);
      const key = "bough:hub:{t}";
      // the earlier format: a script INCRed `s`, and the id came from Redis's clock
      const old = (yield* until(
        raw.xadd(key, "*", "s", "41", "m", "old:1", "v", '"old"'),
      )) as string;
      const hub = yield* useHub<string>({ topic: "t", broker: redisBroker({ url: redis.url }) });
      const sub = yield* hub.subscribe({ after: "0" });
      const oldMessage = (yield* sub.next()).value;
      expect(oldMessage).toMatchObject({
        id: old,
        seq: 41,
        value: "old",
        time: Number(old.split("-")[0]),
      });
      const next = yield* hub.publish("new");
      expect(compareIds(next.id, old)).toBeGreaterThan(0);
      expect(next.id.split("-")[0]).toBe(old.split("-")[0]);
      expect(next.seq).toBe(Number(next.id.split("-")[1]));
      // an XADD by hand moves the stream's last id past the topic's epoch: the
      // next publish follows it instead of failing
      const later = `${Number(old.split("-")[0]) + 1_000}-0`;
      const byHand = (yield* until(raw.xadd(key, later, "x", "1"))) as string;
      const after = yield* hub.publish("after");
      expect(after.id).toBe(`${later.split("-")[0]}-1`);
      expect(compareIds(after.id, byHand)).toBeGreaterThan(0);
      expect((yield* take(sub, 2)).map((m) => m.value)).toEqual(["new", "after"]);
      expect(hub.stats()).toMatchObject({ malformed: 1, duplicates: 0 });
    });
  });

  it("resumes a subscription from a cursor with a backfill and no duplicate", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const broker = yield* useRedisBroker({ url: redis.url });
      const hub = yield* useHub<number>({ topic: "t", broker, buffer: 8 });
      const ids: string[] = [];
      for (let n = 0; n < 300; n++) ids.push((yield* hub.publish(n)).id);
      const sub = yield* hub.subscribe({ after: ids[99] });
      const reader = yield* spawn(() => take(sub, 250));
      for (let n = 300; n < 350; n++) yield* hub.publish(n);
      const got = yield* reader;
      expect(got.map((m) => m.value)).toEqual(Array.from({ length: 250 }, (_, i) => i + 100));
    });
  });

  it("gives CursorExpiredError for a cursor older than the retained stream", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const hub = yield* useHub<number>({
        topic: "t",
        broker: redisBroker({ url: redis.url, maxLen: 10 }),
      });
      const first = yield* hub.publish(0);
      for (let n = 1; n < 500; n++) yield* hub.publish(n);
      const error = yield* thrown(hub.subscribe({ after: first.id }));
      expect(error).toBeInstanceOf(CursorExpiredError);
      expect(error).toMatchObject({ reason: "trimmed" });
      const resetTo = (error as CursorExpiredError).resetTo as string;
      const oldest = yield* hub.next(resetTo);
      expect(oldest.value).toBeGreaterThan(0);
      expect(yield* thrown(hub.next(first.id))).toBeInstanceOf(CursorExpiredError);
      const ahead = yield* thrown(hub.next(`${Date.now() + 3_600_000}-0`));
      expect(ahead).toMatchObject({ reason: "ahead" });
    });
  });

  it("rejects a value that does not serialise, and publishes nothing", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const hub = yield* useHub<unknown>({ topic: "t", broker: redisBroker({ url: redis.url }) });
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      for (const bad of [1n, cyclic, undefined, () => 1]) {
        expect(yield* thrown(hub.publish(bad))).toBeInstanceOf(UnserializableValueError);
      }
      expect(yield* hub.latest()).toBeUndefined();
    });
  });

  it("skips and counts malformed and duplicate entries", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const raw = yield* useRawClient(redis.url);
      const hub = yield* useHub<string>({ topic: "t", broker: redisBroker({ url: redis.url }) });
      const sub = yield* hub.subscribe();
      yield* hub.publish("a");
      yield* until(raw.xadd("bough:hub:{t}", "*", "junk", "1"));
      yield* until(raw.xadd("bough:hub:{t}", "*", "s", "9", "m", "p:1", "v", "{not json"));
      yield* until(raw.xadd("bough:hub:{t}", "*", "s", "10", "m", "x:1", "v", '"b"'));
      yield* until(raw.xadd("bough:hub:{t}", "*", "s", "11", "m", "x:1", "v", '"b again"'));
      yield* hub.publish("c");
      expect((yield* take(sub, 3)).map((m) => m.value)).toEqual(["a", "b", "c"]);
      expect(hub.stats()).toMatchObject({ malformed: 2, duplicates: 1 });
    });
  });

  it("holds publishers while Redis is down and completes them when it is back", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const hub = yield* useHub<number>({
        topic: "t",
        broker: redisBroker({ url: redis.url, backoff: { initialMs: 20, maxMs: 100 } }),
      });
      const sub = yield* hub.subscribe();
      yield* hub.publish(0);
      yield* redis.kill("SIGKILL");
      const publisher = yield* spawn(function* () {
        for (let n = 1; n <= 5; n++) yield* hub.publish(n);
      });
      yield* sleep(300);
      yield* redis.restart();
      yield* publisher;
      expect((yield* take(sub, 6)).map((m) => m.value)).toEqual([0, 1, 2, 3, 4, 5]);
    });
  });

  it("fails a publish with PublishTimeoutError when Redis stays down", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const hub = yield* useHub<number>({
        topic: "t",
        broker: redisBroker({ url: redis.url, commandTimeoutMs: 300 }),
      });
      yield* hub.publish(0);
      yield* redis.kill("SIGKILL");
      const t0 = Date.now();
      expect(yield* thrown(hub.publish(1))).toBeInstanceOf(PublishTimeoutError);
      expect(Date.now() - t0).toBeLessThan(3_000);
    });
  });

  it("ends within moments of its scope, even in the middle of a long XREAD BLOCK", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const t0 = Date.now();
      yield* scoped(function* () {
        const hub = yield* useHub<number>({
          topic: "t",
          broker: redisBroker({ url: redis.url, block: 10_000 }),
        });
        yield* hub.subscribe();
        yield* hub.publish(1);
        yield* sleep(100);
      });
      expect(Date.now() - t0).toBeLessThan(2_000);
    });
  });

  describe("across real processes", () => {
    it("delivers 10,000 messages to 3 subscriber processes in order, without loss or duplicate, one of them pausing 1 s", async () => {
      await run(function* () {
        const redis = yield* useRedisServer();
        const count = 10_000;
        const children = [
          yield* useChild(SUBSCRIBER, [redis.url, "fan", String(count)]),
          yield* useChild(SUBSCRIBER, [redis.url, "fan", String(count)]),
          yield* useChild(SUBSCRIBER, [redis.url, "fan", String(count), "3000", "1000"]),
        ];
        for (const child of children) yield* child.waitForLine((l) => l === "ready");
        const hub = yield* useHub<number>({
          topic: "fan",
          broker: redisBroker({ url: redis.url, maxLen: 100_000 }),
        });
        for (let n = 0; n < count; n++) {
          yield* hub.publish(n);
          if (n % 500 === 0) yield* sleep(1);
        }
        const expected = Array.from({ length: count }, (_, i) => i);
        for (const child of children) {
          const line = yield* child.waitForLine((l) => l.startsWith("{"), 60_000);
          const { values, ids } = JSON.parse(line) as { values: number[]; ids: string[] };
          expect(values).toEqual(expected);
          expect(new Set(ids).size).toBe(count);
          expect(yield* child.exited()).toBe(0);
        }
        expect(children[2].lines).toContain("resumed");
      });
    }, 90_000);

    it("recovers when redis-server is SIGKILLed and restarted mid-stream, losing nothing acknowledged", async () => {
      await run(function* () {
        const redis = yield* useRedisServer();
        const count = 2_000;
        const child = yield* useChild(SUBSCRIBER, [redis.url, "crash", String(count)]);
        yield* child.waitForLine((l) => l === "ready");
        const hub = yield* useHub<number>({
          topic: "crash",
          broker: redisBroker({
            url: redis.url,
            commandTimeoutMs: 30_000,
            backoff: { initialMs: 20, maxMs: 200 },
          }),
        });
        const acked: number[] = [];
        const publisher = yield* spawn(function* () {
          for (let n = 0; n < count; n++) {
            yield* hub.publish(n);
            acked.push(n);
            if (n % 20 === 0) yield* sleep(2);
          }
        });
        while (acked.length < count / 2) yield* sleep(5);
        yield* redis.kill("SIGKILL");
        const ackedBeforeCrash = acked.length;
        yield* sleep(300);
        yield* redis.restart();
        yield* publisher;
        expect(ackedBeforeCrash).toBeLessThan(count);
        const line = yield* child.waitForLine((l) => l.startsWith("{"), 60_000);
        const { values } = JSON.parse(line) as { values: number[] };
        expect(values).toEqual(acked);
        expect(values).toEqual(Array.from({ length: count }, (_, i) => i));
      });
    }, 90_000);
  });

  describe("with tracing (bough/otel)", () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer("subscriber");

    it("carries the publisher's trace context in the entry, and links the delivery in another process to it", async () => {
      exporter.reset();
      const { message, published } = await run(function* () {
        const redis = yield* useRedisServer();
        return yield* scoped(function* () {
          yield* useTracing({ tracer });
          return yield* labelled("subscriber", function* () {
            const broker = yield* useRedisBroker({ url: redis.url, block: 200 });
            const hub = yield* useHub<{ job: number }>({ topic: "jobs", broker });
            const sub = yield* hub.subscribe();
            const child = yield* useChild(TRACED_PUBLISHER, [redis.url, "jobs"]);
            const message = (yield* sub.next()).value;
            const line = yield* child.waitForLine((l) => l.startsWith("{"), 60_000);
            return { message, published: (JSON.parse(line) as { spans: PlainSpan[] }).spans };
          });
        });
      });
      const delivered = exporter.getFinishedSpans().map(plainSpan);
      // each process's span tree is its task tree (the publisher's own hub may
      // also read the entry back before it exits, as any subscriber of the
      // topic does: a busy machine showed that delivery once; it is not what
      // this test is about)
      const ownDelivery = (s: PlainSpan) => s.name === "deliver jobs";
      expect(spanShapes(published.filter((s) => !ownDelivery(s)))).toEqual([
        { name: "publisher", children: [{ name: "publish jobs", children: [] }] },
      ]);
      expect(spanShapes(delivered)).toEqual([
        { name: "subscriber", children: [{ name: "deliver jobs", children: [] }] },
      ]);
      // and the delivery links to the publish, whose traceparent the message carries
      const publish = published.find((s) => s.name === "publish jobs") as PlainSpan;
      const deliver = delivered.find((s) => s.name === "deliver jobs") as PlainSpan;
      expect(publish.kind).toBe(SpanKind.PRODUCER);
      expect(deliver.kind).toBe(SpanKind.CONSUMER);
      expect(deliver.links).toEqual([{ traceId: publish.traceId, spanId: publish.spanId }]);
      expect(deliver.attributes["bough.hub.id"]).toBe(message.id);
      expect(message.value).toEqual({ job: 7 });
      expect(message.traceparent).toBe(`00-${publish.traceId}-${publish.spanId}-01`);
    }, 90_000);

    it("writes no trace field when tracing is off, and reads entries without one", async () => {
      await run(function* () {
        const redis = yield* useRedisServer();
        const raw = yield* useRawClient(redis.url);
        const hub = yield* useHub<string>({ topic: "t", broker: redisBroker({ url: redis.url }) });
        const sub = yield* hub.subscribe();
        yield* hub.publish("untraced");
        const [[, fields]] = (yield* until(raw.xrange("bough:hub:{t}", "-", "+"))) as [
          string,
          string[],
        ][];
        expect(fields.filter((_, i) => i % 2 === 0)).toEqual(["m", "c", "v"]);
        const received = (yield* sub.next()).value;
        expect(received).toEqual({
          id: received.id,
          seq: 1,
          value: "untraced",
          time: received.time,
        });
        expect("traceparent" in received).toBe(false);
      });
    });
  });
});
