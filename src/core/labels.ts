import { createContext, ensure, type Operation, type Scope, scoped, useScope } from "effection";
import { isHalted } from "./errors.js";

/** A value a label's attribute may hold (an OpenTelemetry attribute value, minus arrays). */
export type LabelAttribute = string | number | boolean;

/**
 * Where a labelled node stands: `running`; `halting` once its task was asked
 * to stop and runs its cleanup; `done` or `failed` at the very end (a node
 * leaves the tree as soon as its task's scope is gone).
 */
export type LabelState = "running" | "halting" | "done" | "failed";

/** A labelled task in the live tree that {@link label} maintains. */
export interface LabelNode {
  readonly id: number;
  name: string;
  /**
   * What the node is: `"task"` (the default), `"resource"`, `"selector item"`,
   * `"http request"`, `"pool call"`, … — free text, shown by the inspector.
   */
  kind: string;
  state: LabelState;
  /** When it started, in milliseconds since the epoch. */
  readonly startedAt: number;
  /** Facts about it (a job id, a route, a worker pid), shown by the inspector and on its span. */
  readonly attributes: Record<string, LabelAttribute>;
  /** The nearest labelled ancestor (`undefined` for the process root). */
  readonly parent: LabelNode | undefined;
  readonly children: Set<LabelNode>;
  /** Per-watcher data (an OpenTelemetry span, …), keyed by the watcher's own symbol. */
  readonly extra: Record<symbol, unknown>;
  /**
   * The W3C `traceparent` of a caller in another thread or process that this
   * node works for (a pool call, a hub delivery), when the adapter got one.
   */
  readonly traceparent?: string;
  /**
   * W3C `traceparent`s of spans this node follows from without being their
   * child (a hub delivery links to its publish): OpenTelemetry span links.
   */
  readonly links?: readonly string[];
}

/** A plain-JSON copy of a {@link LabelNode} and everything under it. */
export interface LabelTree {
  id: number;
  name: string;
  kind: string;
  state: LabelState;
  startedAt: string;
  attributes: Record<string, LabelAttribute>;
  children: LabelTree[];
}

/** Options of {@link label} and {@link labelled}. */
export interface LabelOptions {
  /** What the node is (default `"task"`): see {@link LabelNode.kind}. */
  kind?: string;
  /** Facts to show beside it; merged into the node's attributes. */
  attributes?: Record<string, LabelAttribute>;
  /** A remote caller's W3C `traceparent` (see {@link LabelNode.traceparent}); only when the node is new. */
  traceparent?: string;
  /** Traceparents of spans this node follows from (see {@link LabelNode.links}); only when the node is new. */
  links?: readonly string[];
}

/**
 * One change of the live tree, as seen by a {@link watchLabels} listener:
 * a node started, changed (renamed, new attributes, a new state) or ended.
 */
export interface LabelChange {
  type: "start" | "update" | "end";
  node: LabelNode;
  /** For a failed node's `end`: what it threw. */
  error?: unknown;
}

/** A labelled task that failed, kept by {@link recentFailures} after it is gone. */
export interface LabelFailure {
  /** Counts failures in this process, from 1: a newer failure has a larger `seq`. */
  seq: number;
  /** The failed node's id. */
  id: number;
  /** The names from the root's child down to the failed node. */
  path: string[];
  kind: string;
  attributes: Record<string, LabelAttribute>;
  /** The error's `name` (`"Error"` for a thrown non-error). */
  error: string;
  message: string;
  stack: string;
  startedAt: string;
  failedAt: string;
}

interface Registry {
  nextId: number;
  root: LabelNode;
  listeners: Set<(change: LabelChange) => void>;
  /** The listeners' fan-out, `undefined` while nobody listens: the tree's only per-change cost. */
  emit: ((change: LabelChange) => void) | undefined;
  failures: LabelFailure[];
  failureCapacity: number;
  failureSeq: number;
  /** Set by a tracer (`bough/otel`): the trace context to hand to another thread or process. */
  traceparentOf: ((node: LabelNode) => string | undefined) | undefined;
  /**
   * Set by a pool worker's runtime: the node of the call this code runs for,
   * the parent of labels made where no labelled task encloses them.
   */
  ambient?: (() => LabelNode | undefined) | undefined;
  /** The tree's operations, for code that must not load effection (a pool worker's runtime). */
  open?: typeof openLabel;
  close?: typeof closeLabel;
  fail?: typeof failLabel;
}

/**
 * One tree per process, even when two copies of bough are loaded (ESM and
 * CommonJS builds, or two versions): the root lives on `globalThis`.
 */
const registry = ((globalThis as Record<symbol, unknown>)[Symbol.for("bough.labels.v2")] ??= {
  nextId: 1,
  root: {
    id: 0,
    name: "process",
    kind: "process",
    state: "running",
    startedAt: Date.now(),
    attributes: {},
    parent: undefined,
    children: new Set(),
    extra: {},
  },
  listeners: new Set(),
  emit: undefined,
  failures: [],
  failureCapacity: 100,
  failureSeq: 0,
  traceparentOf: undefined,
}) as Registry;
const root = registry.root;
registry.open ??= openLabel;
registry.close ??= closeLabel;
registry.fail ??= failLabel;
const FAILED = Symbol("bough.label.error");
const keptErrors = new WeakSet<object>();
const LabelContext = createContext<LabelNode>("bough.label", root);

/**
 * Names the current task, so the inspector's live task tree shows a readable
 * branch for it. The label is removed when the task's scope ends. Labelling a
 * task twice renames it (and merges the new attributes). Tasks that are not
 * labelled do not appear; labelled tasks below them hang from the nearest
 * labelled ancestor. Returns the node.
 *
 * A task labelled this way shows as `done` when it ends, whatever the
 * outcome; run a body through {@link labelled} to have its failures kept
 * (with stack and path) and its halting shown.
 *
 * @example
 * ```ts
 * yield* spawn(function* () {
 *   yield* label("ticker", { attributes: { intervalMs: 1000 } });
 *   for (const tick of yield* each(ticker({ intervalMs: 1000 }))) { … }
 * });
 * ```
 */
export function* label(name: string, options?: LabelOptions): Operation<LabelNode> {
  const scope = yield* useScope();
  if (scope.hasOwn(LabelContext)) {
    const node = scope.expect(LabelContext);
    node.name = name;
    if (options?.kind !== undefined) node.kind = options.kind;
    if (options?.attributes !== undefined) Object.assign(node.attributes, options.attributes);
    registry.emit?.({ type: "update", node });
    return node;
  }
  const node = openLabel(labelOf(scope), name, options);
  scope.set(LabelContext, node);
  yield* ensure(() => closeLabel(node));
  return node;
}

/**
 * Runs `body` as a labelled branch of its own (a child scope of the caller,
 * named `name`): while it runs the inspector shows it; when it is halted it
 * shows as `halting` during its cleanup; when it throws, the failure is kept
 * by {@link recentFailures} with its stack and its path in the tree, and
 * the error goes on up unchanged.
 *
 * @example
 * ```ts
 * yield* spawn(() =>
 *   labelled("import", function* () {
 *     yield* importRows(); // a failure here is kept for the inspector, then rethrown
 *   }, { attributes: { file: "rows.csv" } }),
 * );
 * ```
 */
export function labelled<T>(
  name: string,
  body: () => Operation<T>,
  options?: LabelOptions,
): Operation<T> {
  return scoped(function* () {
    const node = yield* label(name, options);
    try {
      return yield* haltingShows(node, body());
    } catch (error) {
      if (!isHalted(error)) failLabel(node, error);
      throw error;
    }
  });
}

/**
 * For adapters: `op` as a labelled node of kind `options.kind` while anybody
 * watches the tree (the inspector's page, `bough/otel`), and `op` itself,
 * untouched, otherwise — so an unwatched unit of work pays one property read.
 * `op` must run as a task or light routine of its own (a selector item, an
 * HTTP request): the node is that routine's label, the parent of whatever it
 * labels in turn; a failure is kept (see {@link labelled}).
 *
 * @example
 * ```ts
 * // in an adapter, where it starts a unit of work as a routine of its own
 * if (labelsWatched()) op = watchedAs(`${ctx.method} ${ctx.path}`, op, { kind: "http request" });
 * ```
 */
export function watchedAs<T>(name: string, op: Operation<T>, options: LabelOptions): Operation<T> {
  return registry.emit === undefined ? op : runLabelled(name, op, options);
}

/**
 * For adapters: runs `body` as a node of its own under `parent`, inside the
 * caller's task (no scope of its own, unlike {@link labelled}): the node
 * ends when `body` does, and a failure other than a halt is kept (see
 * {@link failLabel}) and rethrown. `body` gets the node, e.g. for its
 * {@link labelTraceparent}. Call it only while {@link labelsWatched}.
 *
 * @example
 * ```ts
 * if (labelsWatched()) {
 *   return yield* withLabelNode(labelOf(yield* useScope()), "publish jobs", { kind: "hub publish" },
 *     (node) => send(value, labelTraceparent(node)));
 * }
 * ```
 */
export function* withLabelNode<T>(
  parent: LabelNode,
  name: string,
  options: LabelOptions,
  body: (node: LabelNode) => Operation<T>,
): Operation<T> {
  const node = openLabel(parent, name, options);
  try {
    return yield* body(node);
  } catch (error) {
    if (!isHalted(error)) failLabel(node, error);
    throw error;
  } finally {
    closeLabel(node);
  }
}

/**
 * A selector item's name in the tree: its `data` when that is a string or a
 * number, else `"item"`.
 *
 * @example
 * ```ts
 * itemName("tick"); // "tick"
 * itemName({ id: 7 }); // "item"
 * ```
 */
export function itemName(data: unknown): string {
  return typeof data === "string" ? data : typeof data === "number" ? String(data) : "item";
}

function* runLabelled<T>(name: string, op: Operation<T>, options: LabelOptions): Operation<T> {
  const node = yield* label(name, options);
  try {
    return yield* haltingShows(node, op);
  } catch (error) {
    if (!isHalted(error)) failLabel(node, error);
    throw error;
  }
}

/**
 * `op`, except that a halt marks `node` as halting before any of `op`'s
 * `finally` blocks run: halting calls `return()` down the `yield*` chain,
 * outermost first, and the cleanup runs innermost first.
 */
function haltingShows<T>(node: LabelNode, op: Operation<T>): Operation<T> {
  return {
    [Symbol.iterator]() {
      const inner = op[Symbol.iterator]();
      const outer: ReturnType<Operation<T>[typeof Symbol.iterator]> = {
        next: (value) => inner.next(value),
        throw: (error) => {
          if (inner.throw) return inner.throw(error);
          throw error;
        },
        return: (value) => {
          setLabelState(node, "halting");
          return inner.return ? inner.return(value) : { done: true, value: value as T };
        },
        [Symbol.iterator]() {
          return outer;
        },
      } as ReturnType<Operation<T>[typeof Symbol.iterator]>;
      return outer;
    },
  };
}

/**
 * The label node of the task that runs `scope` (the nearest labelled
 * ancestor; when none, the node of the pool call a worker is running, else
 * the process root): what an adapter hangs its own nodes from, and what
 * `bough/otel` takes the parent span from.
 *
 * @example
 * ```ts
 * const scope = yield* useScope();
 * console.log(labelOf(scope).name);
 * ```
 */
export function labelOf(scope: Scope): LabelNode {
  const node = scope.expect(LabelContext);
  return node === root && registry.ambient !== undefined ? (registry.ambient() ?? root) : node;
}

/**
 * Whether anybody watches the tree ({@link watchLabels}). Adapters create
 * nodes for their own units of work (requests, items, calls) only then, so
 * that an unwatched tree costs nothing.
 *
 * @example
 * ```ts
 * const node = labelsWatched() ? openLabel(labelOf(scope), "GET /jobs", { kind: "http request" }) : undefined;
 * ```
 */
export function labelsWatched(): boolean {
  return registry.emit !== undefined;
}

/**
 * Adds a node under `parent` without a scope of its own; {@link closeLabel}
 * removes it. For adapters whose units of work are not tasks (a selector
 * item that never suspends, a pool call): most code wants {@link label}.
 *
 * @example
 * ```ts
 * const node = openLabel(labelOf(scope), "resize", { kind: "pool call" });
 * try { … } catch (e) { failLabel(node, e); throw e; } finally { closeLabel(node); }
 * ```
 */
export function openLabel(parent: LabelNode, name: string, options?: LabelOptions): LabelNode {
  const node: LabelNode = {
    id: registry.nextId++,
    name,
    kind: options?.kind ?? "task",
    state: "running",
    startedAt: Date.now(),
    attributes: options?.attributes ? { ...options.attributes } : {},
    parent,
    children: new Set(),
    extra: {},
    traceparent: options?.traceparent,
    links: options?.links,
  };
  parent.children.add(node);
  registry.emit?.({ type: "start", node });
  return node;
}

/**
 * Removes `node` from the tree (its state becomes `done` unless it failed).
 *
 * @example
 * ```ts
 * const node = openLabel(labelOf(scope), "job 7");
 * closeLabel(node);
 * ```
 */
export function closeLabel(node: LabelNode, error?: unknown): void {
  if (!node.parent?.children.delete(node)) return;
  if (node.state !== "failed") node.state = "done";
  registry.emit?.({ type: "end", node, error: error ?? node.extra[FAILED] });
}

/**
 * Sets the state of `node` (`"halting"`, …) and tells the watchers.
 *
 * @example
 * ```ts
 * setLabelState(node, "halting");
 * ```
 */
export function setLabelState(node: LabelNode, state: LabelState): void {
  if (node.state === state) return;
  node.state = state;
  registry.emit?.({ type: "update", node });
}

/**
 * Marks `node` failed with `error` and keeps the failure for
 * {@link recentFailures} (once: an error already kept for a node below is
 * not kept again for its ancestors); the node stays in the tree until its task's scope
 * ends (then it ends as `failed`).
 *
 * @example
 * ```ts
 * try { yield* work(); } catch (error) { failLabel(node, error); throw error; }
 * ```
 */
export function failLabel(node: LabelNode, error: unknown): void {
  node.state = "failed";
  node.extra[FAILED] = error;
  const e = error instanceof Error ? error : undefined;
  // an error kept once is not kept again by each labelled ancestor it goes through
  if (typeof error === "object" && error !== null) {
    if (keptErrors.has(error)) {
      registry.emit?.({ type: "update", node, error });
      return;
    }
    keptErrors.add(error);
  }
  registry.failures.push({
    seq: ++registry.failureSeq,
    id: node.id,
    path: pathOf(node),
    kind: node.kind,
    attributes: { ...node.attributes },
    error: e?.name ?? "Error",
    message: e?.message ?? String(error),
    stack: e?.stack ?? String(error),
    startedAt: new Date(node.startedAt).toISOString(),
    failedAt: new Date().toISOString(),
  });
  if (registry.failures.length > registry.failureCapacity) registry.failures.shift();
  registry.emit?.({ type: "update", node, error });
}

/**
 * The last failures of labelled tasks (see {@link labelled}), oldest first,
 * at most `limit` (default: all kept, up to 100), kept after their tasks are gone.
 *
 * @example
 * ```ts
 * for (const f of recentFailures(10)) console.log(f.path.join(" › "), f.message);
 * ```
 */
export function recentFailures(limit = registry.failureCapacity): LabelFailure[] {
  return registry.failures.slice(-Math.max(0, limit));
}

/**
 * Calls `listener` for every change of the live tree until the returned
 * function is called. While no listener is registered, the tree keeps no
 * change log and calls nothing: watching is what costs.
 *
 * @example
 * ```ts
 * const stop = watchLabels((change) => console.log(change.type, change.node.name));
 * try { yield* work(); } finally { stop(); }
 * ```
 */
export function watchLabels(listener: (change: LabelChange) => void): () => void {
  const entry = (change: LabelChange) => listener(change);
  registry.listeners.add(entry);
  refreshEmit();
  return () => {
    registry.listeners.delete(entry);
    refreshEmit();
  };
}

function refreshEmit(): void {
  const listeners = [...registry.listeners];
  if (listeners.length === 0) registry.emit = undefined;
  else if (listeners.length === 1) registry.emit = listeners[0];
  else
    registry.emit = (change) => {
      for (const listener of listeners) listener(change);
    };
}

/**
 * The W3C `traceparent` that work done elsewhere on behalf of `node` (a pool
 * call in a worker, a hub message read by another process) should carry, so
 * that its spans join `node`'s trace: `undefined` unless a tracer is
 * installed (`useTracing()` from `bough/otel`), so an adapter that puts it in
 * its frames pays one call when tracing is off.
 *
 * @example
 * ```ts
 * const meta = { trace: labelTraceparent(labelOf(yield* useScope())) };
 * ```
 */
export function labelTraceparent(node: LabelNode): string | undefined {
  return registry.traceparentOf?.(node);
}

/**
 * Installs the function behind {@link labelTraceparent} (what `bough/otel`
 * does while tracing); returns the function that removes it.
 *
 * @example
 * ```ts
 * const remove = provideTraceparent((node) => spanOf(node)?.traceparent);
 * ```
 */
export function provideTraceparent(
  traceparentOf: (node: LabelNode) => string | undefined,
): () => void {
  registry.traceparentOf = traceparentOf;
  return () => {
    if (registry.traceparentOf === traceparentOf) registry.traceparentOf = undefined;
  };
}

/**
 * The root of the live tree (the process): every labelled node hangs from it.
 *
 * @example
 * ```ts
 * console.log(labelRoot().children.size);
 * ```
 */
export function labelRoot(): LabelNode {
  return root;
}

/**
 * The names from the root's child down to `node`.
 *
 * @example
 * ```ts
 * labelPath(node); // ["server", "GET /jobs", "job 7"]
 * ```
 */
export function labelPath(node: LabelNode): string[] {
  return pathOf(node);
}

function pathOf(node: LabelNode): string[] {
  const path: string[] = [];
  for (let n: LabelNode | undefined = node; n !== undefined && n !== root; n = n.parent) {
    path.push(n.name);
  }
  return path.reverse();
}

/**
 * A JSON snapshot of every labelled task alive in this process, as a tree.
 *
 * @example
 * ```ts
 * console.log(JSON.stringify(labelTree(), null, 2));
 * ```
 */
export function labelTree(): LabelTree {
  return snapshot(root);
}

function snapshot(node: LabelNode): LabelTree {
  return {
    id: node.id,
    name: node.name,
    kind: node.kind,
    state: node.state,
    startedAt: new Date(node.startedAt).toISOString(),
    attributes: { ...node.attributes },
    children: [...node.children].map(snapshot),
  };
}
