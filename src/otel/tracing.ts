import {
  type Context,
  type Link,
  context as otelContext,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { type Operation, resource } from "effection";
import {
  type LabelChange,
  type LabelNode,
  provideTraceparent,
  watchLabels,
} from "../core/labels.js";
import { formatTraceparent, parseTraceparent } from "./traceparent.js";

/** Options of {@link useTracing}. */
export interface TracingOptions {
  /**
   * The tracer spans are made with. Default: `trace.getTracer("bough")` from
   * the globally registered tracer provider (the OpenTelemetry SDK's).
   */
  tracer?: Tracer;
}

/** What {@link useTracing} provides. */
export interface Tracing {
  /** The span of `node`, or of its nearest ancestor that has one. */
  spanOf(node: LabelNode): Span | undefined;
  /** How many spans are open now. */
  readonly open: number;
}

const SPAN = Symbol("bough.otel.span");

/**
 * Turns bough's task tree into OpenTelemetry spans while the calling scope
 * lives: every node that starts meanwhile — a task named by `label()` or run
 * by `labelled()`, and the nodes adapters add for their units of work — is a
 * span whose parent is the span of the enclosing labelled task (or, for work
 * done on behalf of another thread or process, the caller's span named by
 * the node's `traceparent`; or the active OpenTelemetry context's span for a
 * node at the top). The span is named for the label, carries its attributes
 * and `bough.kind`, is renamed with it, records the exception and an error
 * status when the task fails, and ends when the task's scope does.
 *
 * The adapters' nodes: selector items, HTTP requests (`SERVER` spans), pool
 * calls (`CLIENT` spans whose context travels in the call frame; a worker
 * that runs {@link enableTracing} continues the trace), hub publishes
 * (`PRODUCER`, whose context travels in the message and the Redis entry) and
 * deliveries (`CONSUMER`, linked to the publish).
 *
 * While it runs, `labelTraceparent(node)` gives adapters the trace context
 * to carry in their frames. Without `useTracing()` nothing of this runs: the
 * tree has no listener and `labelTraceparent()` answers `undefined`.
 * `@opentelemetry/api` is an optional peer dependency: only `bough/otel`
 * loads it.
 *
 * @example
 * ```ts
 * import { main } from "effection";
 * import { labelled } from "bough";
 * import { useTracing } from "bough/otel";
 *
 * await main(function* () {
 *   yield* useTracing(); // uses the tracer provider your OpenTelemetry SDK registered
 *   yield* labelled("nightly import", function* () {
 *     yield* labelled("fetch rows", fetchRows); // a child span of "nightly import"
 *   });
 * });
 * ```
 */
export function useTracing(options: TracingOptions = {}): Operation<Tracing> {
  return resource(function* (provide) {
    const tracing = enableTracing(options);
    try {
      yield* provide(tracing);
    } finally {
      tracing.disable();
    }
  });
}

/** What {@link enableTracing} returns: the {@link Tracing}, and how to stop it. */
export interface EnabledTracing extends Tracing {
  /** Stops making spans; spans still open end now. Calling it again does nothing. */
  disable(): void;
}

/**
 * {@link useTracing} without a scope, for code that runs no effection task
 * of its own: a pool worker's `setup`. From then on, the worker's labelled
 * tasks are spans, and each pool call it serves is a span (kind
 * `"worker call"`, named for the method) whose parent is the caller's
 * `"pool call"` span: the worker's spans join the caller's trace. Returns
 * the tracing and its `disable()`.
 *
 * @example
 * ```ts
 * // resize-worker.ts
 * import { run } from "effection";
 * import { labelled } from "bough";
 * import { enableTracing } from "bough/otel";
 * import { defineWorker } from "bough/pool/worker";
 *
 * export default defineWorker({
 *   setup() {
 *     registerMyOpenTelemetrySdk(); // e.g. NodeTracerProvider + OTLP exporter
 *     enableTracing();
 *   },
 *   interface: {
 *     // "decode" is a span under this call's span, in the caller's trace
 *     resize: (file: string) => run(() => labelled("decode", () => decode(file))),
 *   },
 * });
 * ```
 */
export function enableTracing(options: TracingOptions = {}): EnabledTracing {
  const tracer = options.tracer ?? trace.getTracer("bough");
  const open = new Set<LabelNode>();

  const spanOf = (node: LabelNode): Span | undefined => {
    for (let n: LabelNode | undefined = node; n !== undefined; n = n.parent) {
      const span = n.extra[SPAN] as Span | undefined;
      if (span !== undefined) return span;
      if (n.traceparent !== undefined) return undefined;
    }
    return undefined;
  };

  const parentContext = (node: LabelNode): Context => {
    for (let n: LabelNode | undefined = node.parent; n !== undefined; n = n.parent) {
      const span = n.extra[SPAN] as Span | undefined;
      if (span !== undefined) return trace.setSpan(ROOT_CONTEXT, span);
      const remote = parseTraceparent(n.traceparent);
      if (remote !== undefined) return trace.setSpanContext(ROOT_CONTEXT, remote);
    }
    return otelContext.active();
  };

  const onChange = (change: LabelChange) => {
    const { node } = change;
    if (change.type === "start") {
      const remote = parseTraceparent(node.traceparent);
      const parent =
        remote !== undefined ? trace.setSpanContext(ROOT_CONTEXT, remote) : parentContext(node);
      const span = tracer.startSpan(
        node.name,
        {
          startTime: node.startedAt,
          attributes: { ...node.attributes, "bough.kind": node.kind },
          kind: SPAN_KINDS[node.kind] ?? SpanKind.INTERNAL,
          links: node.links === undefined ? undefined : linksOf(node.links),
        },
        parent,
      );
      node.extra[SPAN] = span;
      open.add(node);
      return;
    }
    const span = node.extra[SPAN] as Span | undefined;
    if (span === undefined) return;
    if (change.type === "update") {
      span.updateName(node.name);
      span.setAttributes(node.attributes);
      if (change.error !== undefined && node.state === "failed") fail(span, change.error);
      return;
    }
    if (node.state === "failed" && change.error !== undefined) fail(span, change.error);
    span.end();
    open.delete(node);
    delete node.extra[SPAN];
  };

  const stop = watchLabels(onChange);
  const unprovide = provideTraceparent((node) => {
    const span = spanOf(node);
    if (span !== undefined) return formatTraceparent(span.spanContext());
    for (let n: LabelNode | undefined = node; n !== undefined; n = n.parent) {
      if (n.traceparent !== undefined) return n.traceparent;
    }
    return undefined;
  });
  let enabled = true;
  return {
    spanOf,
    get open() {
      return open.size;
    },
    disable() {
      if (!enabled) return;
      enabled = false;
      stop();
      unprovide();
      // spans of tasks that outlive the tracing (its owner's siblings) end here
      for (const node of open) {
        (node.extra[SPAN] as Span).end();
        delete node.extra[SPAN];
      }
      open.clear();
    },
  };
}

/**
 * The OpenTelemetry span kind of a node of each bough kind; every other
 * kind (`"task"`, `"selector item"`, …) is `INTERNAL`.
 */
const SPAN_KINDS: Record<string, SpanKind> = {
  "http request": SpanKind.SERVER,
  "pool call": SpanKind.CLIENT,
  "worker call": SpanKind.SERVER,
  "hub publish": SpanKind.PRODUCER,
  "hub delivery": SpanKind.CONSUMER,
};

function linksOf(traceparents: readonly string[]): Link[] {
  const links: Link[] = [];
  for (const traceparent of traceparents) {
    const context = parseTraceparent(traceparent);
    if (context !== undefined) links.push({ context });
  }
  return links;
}

const failed = new WeakSet<Span>();

function fail(span: Span, error: unknown): void {
  if (failed.has(span)) return;
  failed.add(span);
  if (error instanceof Error) span.recordException(error);
  else span.recordException(String(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}
