import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { run, sleep, spawn, suspend, until, useScope, withResolvers } from "effection";
import { afterEach, describe, expect, it } from "vitest";
import {
  type LabelTree,
  label,
  labelled,
  labelOf,
  labelsWatched,
  labelTraceparent,
  labelTree,
} from "../../src/core/labels.js";
import { useSelector } from "../../src/core/selector.js";
import { createRouter, json, useServer } from "../../src/http/index.js";
import { useHub } from "../../src/hub/index.js";
import { parseTraceparent } from "../../src/otel/traceparent.js";
import { useTracing } from "../../src/otel/tracing.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer("bough-test");

afterEach(() => exporter.reset());

interface Shape {
  name: string;
  children: Shape[];
}

/** The finished spans as a tree of names (children sorted), from their parent ids. */
function spanTree(spans: ReadableSpan[]): Shape[] {
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  const shape = (parent: string | undefined): Shape[] =>
    spans
      .filter((s) => {
        const p = s.parentSpanContext?.spanId;
        return parent === undefined ? p === undefined || !ids.has(p) : p === parent;
      })
      .map((s) => ({ name: s.name, children: shape(s.spanContext().spanId) }))
      .sort((a, b) => a.name.localeCompare(b.name));
  return shape(undefined);
}

function treeShape(tree: LabelTree): Shape {
  return {
    name: tree.name,
    children: tree.children.map(treeShape).sort((a, b) => a.name.localeCompare(b.name)),
  };
}

describe("useTracing", () => {
  it("makes a span of every labelled task, whose parent is the enclosing task's span", async () => {
    let live: Shape | undefined;
    await run(function* () {
      yield* useTracing({ tracer });
      yield* labelled("server", function* () {
        const captured = withResolvers<Shape | undefined>();
        yield* spawn(function* () {
          yield* label("ticker", { attributes: { intervalMs: 1000 } });
          yield* suspend();
        });
        yield* spawn(function* () {
          // not labelled: its labelled child hangs from "server", in the tree and in the trace
          yield* labelled("handler", function* () {
            yield* labelled("query", function* () {
              // everything has started: the live tree as the inspector shows it
              captured.resolve(treeShape(labelTree()).children.find((c) => c.name === "server"));
              yield* suspend();
            });
          });
        });
        live = yield* captured.operation;
      });
    });
    expect(live).toEqual({
      name: "server",
      children: [
        { name: "handler", children: [{ name: "query", children: [] }] },
        { name: "ticker", children: [] },
      ],
    });
    expect(spanTree(exporter.getFinishedSpans())).toEqual([
      {
        name: "server",
        children: [
          { name: "handler", children: [{ name: "query", children: [] }] },
          { name: "ticker", children: [] },
        ],
      },
    ]);
    const ticker = exporter.getFinishedSpans().find((s) => s.name === "ticker");
    expect(ticker?.attributes).toEqual({ intervalMs: 1000, "bough.kind": "task" });
    expect(labelsWatched()).toBe(false);
  });

  it("records a failure on its span and follows renames", async () => {
    const error = new Error("row 7 is not a number");
    await expect(
      run(function* () {
        yield* useTracing({ tracer });
        yield* labelled("import", function* () {
          yield* label("import (running)");
          yield* sleep(1);
          throw error;
        });
      }),
    ).rejects.toBe(error);
    const [span] = exporter.getFinishedSpans();
    expect(span.name).toBe("import (running)");
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: "row 7 is not a number" });
    expect(span.events.map((e) => e.name)).toEqual(["exception"]);
  });

  it("gives adapters the traceparent to carry, and joins a remote caller's trace", async () => {
    let carried: string | undefined;
    await run(function* () {
      expect(labelTraceparent(labelOf(yield* useScope()))).toBeUndefined(); // tracing off
      yield* useTracing({ tracer });
      yield* labelled("caller", function* () {
        carried = labelTraceparent(labelOf(yield* useScope()));
      });
      // what a worker does with the frame's traceparent
      yield* labelled("resize", () => labelled("decode", () => sleep(1)), {
        kind: "pool call",
        traceparent: carried,
      });
    });
    const spans = exporter.getFinishedSpans();
    const caller = spans.find((s) => s.name === "caller");
    const resize = spans.find((s) => s.name === "resize");
    const decode = spans.find((s) => s.name === "decode");
    expect(parseTraceparent(carried)?.spanId).toBe(caller?.spanContext().spanId);
    expect(resize?.spanContext().traceId).toBe(caller?.spanContext().traceId);
    expect(resize?.parentSpanContext?.spanId).toBe(caller?.spanContext().spanId);
    expect(decode?.parentSpanContext?.spanId).toBe(resize?.spanContext().spanId);
  });

  it("costs nothing when not enabled: no listener, no traceparent", async () => {
    await run(function* () {
      yield* labelled("untraced", () => sleep(1));
      expect(labelsWatched()).toBe(false);
      expect(labelTraceparent(labelOf(yield* useScope()))).toBeUndefined();
    });
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it("makes spans of selector items and HTTP requests under the task that owns them", async () => {
    await run(function* () {
      yield* useTracing({ tracer });
      yield* labelled("app", function* () {
        const selector = yield* useSelector<string, string>();
        selector.add(
          "tick",
          (function* () {
            yield* sleep(1);
            return "tick";
          })(),
        );
        selector.add(
          "heartbeat",
          (function* () {
            yield* labelled("beat", () => sleep(1));
            return "beat";
          })(),
        );
        let got = 0;
        while (got < 2) got += (yield* selector.select()).length;

        const router = createRouter().get("/jobs/:id", function* (ctx) {
          yield* labelled("load job", () => sleep(1));
          return json({ id: ctx.params.id });
        });
        const server = yield* useServer({ port: 0, handler: router });
        const response = yield* until(fetch(`${server.url}/jobs/7`));
        expect(yield* until(response.json())).toEqual({ id: "7" });
      });
    });
    const spans = exporter.getFinishedSpans();
    expect(spanTree(spans)).toEqual([
      {
        name: "app",
        children: [
          { name: "GET /jobs/:id", children: [{ name: "load job", children: [] }] },
          { name: "heartbeat", children: [{ name: "beat", children: [] }] },
          { name: "tick", children: [] },
        ],
      },
    ]);
    expect(spans.find((s) => s.name === "tick")?.attributes["bough.kind"]).toBe("selector item");
    // named for its route, as OpenTelemetry's HTTP conventions want; the path is an attribute
    expect(spans.find((s) => s.name === "GET /jobs/:id")?.attributes).toMatchObject({
      "bough.kind": "http request",
      "http.request.method": "GET",
      "http.route": "/jobs/:id",
      "url.path": "/jobs/7",
    });
  });

  it("makes a hub publish a span under the publisher, and links its delivery to it", async () => {
    const received = await run(function* () {
      yield* useTracing({ tracer });
      const hub = yield* useHub<string>({ topic: "chat" });
      const sub = yield* hub.subscribe();
      yield* labelled("sender", () => hub.publish("hello"));
      return (yield* sub.next()).value;
    });
    const spans = exporter.getFinishedSpans();
    expect(spanTree(spans)).toEqual([
      { name: "deliver chat", children: [] },
      { name: "sender", children: [{ name: "publish chat", children: [] }] },
    ]);
    const publish = spans.find((s) => s.name === "publish chat");
    const deliver = spans.find((s) => s.name === "deliver chat");
    expect(publish?.kind).toBe(SpanKind.PRODUCER);
    expect(deliver?.kind).toBe(SpanKind.CONSUMER);
    expect(deliver?.links.map((l) => l.context.spanId)).toEqual([publish?.spanContext().spanId]);
    expect(parseTraceparent(received.traceparent)?.spanId).toBe(publish?.spanContext().spanId);
  });

  it("publishes plain messages when not enabled", async () => {
    const received = await run(function* () {
      const hub = yield* useHub<string>({ topic: "chat" });
      const sub = yield* hub.subscribe();
      yield* hub.publish("hello");
      return (yield* sub.next()).value;
    });
    expect(Object.keys(received).sort()).toEqual(["id", "seq", "time", "value"]);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
