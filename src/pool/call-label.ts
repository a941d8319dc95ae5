/**
 * The label node of the pool call a worker is running: how a traced call's
 * work in the worker joins the caller's trace. This file loads neither
 * effection nor bough's core: it reaches the process's label tree through the
 * registry the core keeps on `globalThis`, and does nothing unless that tree
 * exists and is watched (the worker's code called `enableTracing()` from
 * `bough/otel`, or watches the tree otherwise).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { LabelNode, LabelOptions } from "../core/labels.js";

/** The part of the core's label registry (`src/core/labels.ts`) a worker uses. */
interface LabelRegistry {
  root: LabelNode;
  emit: unknown;
  traceparentOf: ((node: LabelNode) => string | undefined) | undefined;
  ambient?: (() => LabelNode | undefined) | undefined;
  open?: (parent: LabelNode, name: string, options?: LabelOptions) => LabelNode;
  close?: (node: LabelNode, error?: unknown) => void;
  fail?: (node: LabelNode, error: unknown) => void;
}

const REGISTRY = Symbol.for("bough.labels.v2");

let store: AsyncLocalStorage<LabelNode> | undefined;

function registry(): LabelRegistry | undefined {
  return (globalThis as Record<symbol, LabelRegistry | undefined>)[REGISTRY];
}

/**
 * Opens the node of a call that a caller sent with `traceparent`, named for
 * its `method`, of kind `"worker call"`: `undefined` (and nothing done) unless
 * this process's label tree is watched. Labels made by the call's code where
 * no labelled task encloses them (a `run()` inside the method) hang from it,
 * through {@link runInCall}.
 *
 * @example
 * ```ts
 * const node = frame[1].traceparent ? openCallLabel(frame[2], frame[1].traceparent) : undefined;
 * ```
 */
export function openCallLabel(method: string | null, traceparent: string): LabelNode | undefined {
  const labels = registry();
  if (labels?.emit === undefined || labels.open === undefined) return undefined;
  if (store === undefined) {
    store = new AsyncLocalStorage<LabelNode>();
    const current = store;
    labels.ambient = () => current.getStore();
  }
  return labels.open(labels.root, method ?? "call", { kind: "worker call", traceparent });
}

/**
 * Runs `fn` with `node` as the call in progress: what `labelOf()` answers for
 * scopes that no labelled task encloses, in `fn` and in everything it starts
 * (timers, promises, `run()`), until they end.
 *
 * @example
 * ```ts
 * const result = node === undefined ? invoke() : runInCall(node, invoke);
 * ```
 */
export function runInCall<R>(node: LabelNode, fn: () => R): R {
  return store === undefined ? fn() : store.run(node, fn);
}

/**
 * Ends the node of a call: failed with `error` when the call threw.
 *
 * @example
 * ```ts
 * closeCallLabel(node, ok ? undefined : error);
 * ```
 */
export function closeCallLabel(node: LabelNode, failed: boolean, error?: unknown): void {
  const labels = registry();
  if (failed) labels?.fail?.(node, error);
  labels?.close?.(node);
}

/**
 * The trace and span ids of a call's node, while a tracer gives it a span:
 * what the worker's deferred log carries so that its lines can be found
 * from the trace.
 *
 * @example
 * ```ts
 * const ids = callTraceIds(node); // { trace_id: "4bf9…", span_id: "00f0…" }
 * ```
 */
export function callTraceIds(node: LabelNode): { trace_id: string; span_id: string } | undefined {
  const traceparent = registry()?.traceparentOf?.(node);
  if (traceparent === undefined) return undefined;
  const [, traceId, spanId] = traceparent.split("-");
  return traceId && spanId ? { trace_id: traceId, span_id: spanId } : undefined;
}
