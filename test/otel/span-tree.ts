import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type { LabelTree } from "../../src/core/labels.js";

/** A finished span as plain data, so a worker can send its spans back to the test. */
export interface PlainSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Record<string, unknown>;
  status: number;
  links: { traceId: string; spanId: string }[];
}

/** `span` as {@link PlainSpan}. */
export function plainSpan(span: ReadableSpan): PlainSpan {
  return {
    name: span.name,
    kind: span.kind,
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    attributes: { ...span.attributes },
    status: span.status.code,
    links: span.links.map((link) => ({
      traceId: link.context.traceId,
      spanId: link.context.spanId,
    })),
  };
}

/** A tree of names, children sorted: what a span tree and a task tree are compared as. */
export interface Shape {
  name: string;
  children: Shape[];
}

/** Finished spans (from any number of processes) as trees of names, from their parent ids. */
export function spanShapes(spans: PlainSpan[]): Shape[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const shape = (parent: string | undefined): Shape[] =>
    spans
      .filter((s) =>
        parent === undefined
          ? s.parentSpanId === undefined || !ids.has(s.parentSpanId)
          : s.parentSpanId === parent,
      )
      .map((s) => ({ name: s.name, children: shape(s.spanId) }))
      .sort((a, b) => a.name.localeCompare(b.name));
  return shape(undefined);
}

/** A live task tree ({@link labelTree}) as a {@link Shape}. */
export function treeShape(tree: LabelTree): Shape {
  return {
    name: tree.name,
    children: tree.children.map(treeShape).sort((a, b) => a.name.localeCompare(b.name)),
  };
}

/** `tree` with `shapes` hung under its nodes named `at` (a worker's tree under the caller's pool call). */
export function graft(tree: Shape, at: string, shapes: Shape[]): Shape {
  const children = tree.children.map((child) => graft(child, at, shapes));
  return {
    name: tree.name,
    children: (tree.name === at ? [...children, ...shapes] : children).sort((a, b) =>
      a.name.localeCompare(b.name),
    ),
  };
}
