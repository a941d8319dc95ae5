import { createContext, ensure, type Operation, useScope } from "effection";

/** A labelled task in the live tree that {@link label} maintains. */
export interface LabelNode {
  readonly id: number;
  name: string;
  readonly startedAt: number;
  readonly children: Set<LabelNode>;
}

/** A plain-JSON copy of a {@link LabelNode} and everything under it. */
export interface LabelTree {
  id: number;
  name: string;
  startedAt: string;
  children: LabelTree[];
}

/**
 * One tree per process, even when two copies of bough are loaded (ESM and
 * CommonJS builds, or two versions): the root lives on `globalThis`.
 */
const registry = ((globalThis as Record<symbol, unknown>)[Symbol.for("bough.labels")] ??= {
  nextId: 1,
  root: { id: 0, name: "process", startedAt: Date.now(), children: new Set() },
}) as { nextId: number; root: LabelNode };
const root = registry.root;
const LabelContext = createContext<LabelNode>("bough.label", root);

/**
 * Names the current task, so the inspector's live task tree shows a readable
 * branch for it. The label is removed when the task's scope ends. Labelling a
 * task twice renames it. Tasks that are not labelled do not appear; labelled
 * tasks below them hang from the nearest labelled ancestor.
 *
 * @example
 * ```ts
 * yield* spawn(function* () {
 *   yield* label("ticker");
 *   for (const tick of yield* each(ticker({ interval: 1000 }))) { … }
 * });
 * ```
 */
export function* label(name: string): Operation<void> {
  const scope = yield* useScope();
  if (scope.hasOwn(LabelContext)) {
    scope.expect(LabelContext).name = name;
    return;
  }
  const parent = scope.expect(LabelContext);
  const node: LabelNode = {
    id: registry.nextId++,
    name,
    startedAt: Date.now(),
    children: new Set(),
  };
  parent.children.add(node);
  scope.set(LabelContext, node);
  yield* ensure(() => {
    parent.children.delete(node);
  });
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
    startedAt: new Date(node.startedAt).toISOString(),
    children: [...node.children].map(snapshot),
  };
}
