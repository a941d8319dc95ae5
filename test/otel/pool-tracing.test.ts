import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { type Operation, run, scoped } from "effection";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { labelled, labelTree, watchLabels } from "../../src/core/labels.js";
import { useTracing } from "../../src/otel/tracing.js";
import { createDeferredLog } from "../../src/pool/deferred-log.js";
import { type InterfaceOf, type Pool, usePool, useWorkerServer } from "../../src/pool/index.js";
import type tracedWorker from "../fixtures/traced-worker.js";
import { realWorkerTests } from "../helpers/real-workers.js";
import { thrown } from "../helpers/thrown.js";
import {
  graft,
  type PlainSpan,
  plainSpan,
  type Shape,
  spanShapes,
  treeShape,
} from "./span-tree.js";

realWorkerTests();

const worker = new URL("../fixtures/traced-worker.ts", import.meta.url);
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer("bough-test");
const dir = mkdtempSync(join(tmpdir(), "bough-otel-"));

afterEach(() => exporter.reset());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type TracedPool = Pool<InterfaceOf<typeof tracedWorker>>;

interface Traced {
  /** The caller's live task tree when its pool call started, with the worker's tree hung under the call. */
  tasks: Shape;
  /** Every finished span: the caller's and the worker's. */
  spans: PlainSpan[];
}

/**
 * Runs `job > resize` on `pool` while tracing, with the caller's live tree
 * taken when the pool call starts and the worker's taken inside its work;
 * then (tracing off) reads the worker's finished spans.
 */
function* tracedResize(pool: TracedPool): Operation<Traced> {
  let caller: Shape | undefined;
  const inWorker = yield* scoped(function* () {
    yield* useTracing({ tracer });
    const stop = watchLabels((change) => {
      if (change.type === "start" && change.node.kind === "pool call") {
        caller = treeShape(labelTree());
      }
    });
    try {
      return yield* labelled("job", () => pool.run("resize", "cat.png"));
    } finally {
      stop();
    }
  });
  const remote = yield* pool.run("spans");
  return {
    tasks: graft(caller as Shape, "resize", inWorker),
    spans: [...exporter.getFinishedSpans().map(plainSpan), ...remote],
  };
}

const expectedTree: Shape = {
  name: "job",
  children: [
    {
      name: "resize", // the caller's pool call
      children: [
        {
          name: "resize", // the worker's side of the call
          children: [{ name: "decode", children: [{ name: "scale", children: [] }] }],
        },
      ],
    },
  ],
};

/** One trace, and each span's kind where it says what the span is. */
function expectOneTrace(spans: PlainSpan[]): void {
  expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
  const [call, served] = spans
    .filter((s) => s.name === "resize")
    .sort((a) => (a.kind === SpanKind.CLIENT ? -1 : 1));
  expect(call.kind).toBe(SpanKind.CLIENT);
  expect(call.attributes["bough.kind"]).toBe("pool call");
  expect(served.kind).toBe(SpanKind.SERVER);
  expect(served.attributes["bough.kind"]).toBe("worker call");
  expect(served.parentSpanId).toBe(call.spanId);
}

describe("tracing across pool workers", () => {
  it.each(["thread", "process"] as const)(
    "makes a pool call a span under its caller, and the %s worker's spans its children",
    async (transport) => {
      const { tasks, spans } = await run(function* () {
        const pool = yield* usePool<typeof tracedWorker>({ worker, transport, maxWorkers: 1 });
        return yield* tracedResize(pool);
      });
      expect(tasks).toEqual({ name: "process", children: [expectedTree] });
      expect(spanShapes(spans)).toEqual([expectedTree]);
      expectOneTrace(spans);
    },
  );

  it("does the same through a remote worker server", async () => {
    const path = join(dir, "traced.sock");
    const { tasks, spans } = await run(function* () {
      const server = yield* useWorkerServer({ listen: { path }, worker });
      const pool = yield* usePool<typeof tracedWorker>({ connect: server.address, maxWorkers: 1 });
      return yield* tracedResize(pool);
    });
    expect(tasks).toEqual({ name: "process", children: [expectedTree] });
    expect(spanShapes(spans)).toEqual([expectedTree]);
    expectOneTrace(spans);
  });

  it("records a failed call on both sides and tags the worker's deferred log with its span", async () => {
    const logger = createDeferredLog();
    const { error, spans } = await run(function* () {
      // the worker that threw stays, so that its spans can be read
      const pool = yield* usePool<typeof tracedWorker>({
        worker,
        transport: "thread",
        maxWorkers: 1,
        dontReforkAfterError: true,
      });
      const error = yield* scoped(function* () {
        yield* useTracing({ tracer });
        return yield* labelled("job", function* () {
          const checkout = yield* pool.checkout({ logger });
          yield* checkout.api.resize("cat.png");
          return yield* thrown(checkout.api.fail("no such size"));
        });
      });
      const remote = yield* pool.run("spans");
      return { error, spans: [...exporter.getFinishedSpans().map(plainSpan), ...remote] };
    });
    expect(error).toMatchObject({ name: "TaskError", message: "no such size" });
    const failed = spans.filter((s) => s.name === "fail");
    expect(failed.map((s) => s.status)).toEqual([SpanStatusCode.ERROR, SpanStatusCode.ERROR]);
    const served = spans.find((s) => s.name === "resize" && s.kind === SpanKind.SERVER);
    expect(logger.toJSON().data).toEqual({ trace_id: served?.traceId, span_id: served?.spanId });
    expect(logger.toJSON().logs.map((line) => line.slice(2))).toEqual([["decoding", "cat.png"]]);
  });

  it("sends no trace context when the caller does not trace: the worker's spans start their own trace", async () => {
    const spans = await run(function* () {
      const pool = yield* usePool<typeof tracedWorker>({
        worker,
        transport: "thread",
        maxWorkers: 1,
      });
      yield* labelled("job", () => pool.run("resize", "cat.png"));
      return yield* pool.run("spans");
    });
    expect(spanShapes(spans)).toEqual([
      { name: "decode", children: [{ name: "scale", children: [] }] },
    ]);
    expect(spans.find((s) => s.name === "decode")?.parentSpanId).toBeUndefined();
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
