import { ensure, type Operation, useScope } from "effection";
import { labelOf, labelPath } from "./labels.js";

/** A value a panel shows: a number, a short fact, or one level of named numbers. */
export type PanelValue = number | string | boolean | null | Record<string, number>;

/** What a panel shows at one moment, as the inspector gets it from {@link readPanels}. */
export interface PanelSnapshot {
  id: number;
  /** What registered it: `"pool"`, `"hub"`, `"http"`, `"source"`, … */
  kind: string;
  /** Which one: a hub's topic, a server's address, … */
  name: string;
  /** The label path of the task that registered it. */
  path: string[];
  /** Its values now (an entry whose reader threw holds the error's message in `error`). */
  values: Record<string, PanelValue>;
}

interface Entry {
  id: number;
  kind: string;
  name: string;
  path: string[];
  read: () => object;
}

const registry = ((globalThis as Record<symbol, unknown>)[Symbol.for("bough.panels")] ??= {
  nextId: 1,
  entries: new Set<Entry>(),
}) as { nextId: number; entries: Set<Entry> };

/**
 * Registers a panel for the inspector while the calling scope lives: the
 * one-line hook by which a pool, a hub, an HTTP server or a source shows its
 * own state on the inspector's page without user code. `read` is called only
 * when somebody looks (a snapshot, or every `statsMs` while a page is open),
 * so a panel costs its registration and nothing more.
 *
 * @example
 * ```ts
 * // in an adapter's resource, once
 * yield* usePanel("pool", "pool", () => pool.stats()); // { workers, idle, busy, waiting, … }
 * ```
 */
export function* usePanel(kind: string, name: string, read: () => object): Operation<void> {
  const scope = yield* useScope();
  const entry: Entry = {
    id: registry.nextId++,
    kind,
    name,
    path: labelPath(labelOf(scope)),
    read,
  };
  registry.entries.add(entry);
  yield* ensure(() => {
    registry.entries.delete(entry);
  });
}

/**
 * Reads every registered panel now (see {@link usePanel}), in registration order.
 *
 * @example
 * ```ts
 * for (const panel of readPanels()) console.log(panel.kind, panel.name, panel.values);
 * ```
 */
export function readPanels(): PanelSnapshot[] {
  const out: PanelSnapshot[] = [];
  for (const entry of registry.entries) {
    let values: Record<string, PanelValue>;
    try {
      values = plain(entry.read());
    } catch (error) {
      values = { error: error instanceof Error ? error.message : String(error) };
    }
    out.push({ id: entry.id, kind: entry.kind, name: entry.name, path: entry.path, values });
  }
  return out;
}

function plain(value: object): Record<string, PanelValue> {
  const out: Record<string, PanelValue> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === null || typeof v === "number" || typeof v === "string" || typeof v === "boolean") {
      out[key] = v;
    } else if (typeof v === "object") {
      const inner: Record<string, number> = {};
      for (const [k, n] of Object.entries(v)) if (typeof n === "number") inner[k] = n;
      out[key] = inner;
    }
  }
  return out;
}
