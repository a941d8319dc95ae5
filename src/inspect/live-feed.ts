import {
  type LabelAttribute,
  type LabelChange,
  type LabelFailure,
  type LabelNode,
  type LabelState,
  recentFailures,
  watchLabels,
} from "../core/labels.js";
import { type PanelSnapshot, readPanels } from "../core/panels.js";
import type { CounterSeries } from "./counter-series.js";
import type { Counters, CounterValue } from "./counters.js";
import type { LineBuffer } from "./line-buffer.js";
import type { InspectorSnapshot } from "./snapshot.js";

/** One node of the tree in a {@link LivePatch}: a {@link LabelNode} without its children. */
export interface LiveNode {
  id: number;
  /** The parent's id (`0`: the process root). */
  parentId: number;
  name: string;
  kind: string;
  state: LabelState;
  startedAt: string;
  attributes: Record<string, LabelAttribute>;
}

/**
 * What changed since the previous patch, as the inspector's SSE endpoint
 * sends it (`event: patch`). Every field but `time` is optional: absent means
 * unchanged.
 */
export interface LivePatch {
  /** The server's clock when the patch was made (ISO 8601). */
  time: string;
  /** Nodes that started or changed, parents before children. */
  upsert?: LiveNode[];
  /** Ids of nodes that ended (their subtrees went with them). */
  remove?: number[];
  /** Failures kept since the previous patch, oldest first. */
  failures?: LabelFailure[];
  /** Every counter, when any may have changed. */
  counters?: Record<string, CounterValue>;
  /** Every numeric counter's series, when a sample was taken. */
  series?: Record<string, number[]>;
  /** Every panel's values (pools, hubs, servers), with the counters. */
  panels?: PanelSnapshot[];
  /** Lines written to stdout since the previous patch. */
  stdout?: string[];
  /** Lines written to stderr since the previous patch. */
  stderr?: string[];
}

/** Options of {@link createLiveFeed}. */
export interface LiveFeedOptions {
  /** The full snapshot a new watcher gets first. */
  snapshot: () => InspectorSnapshot;
  counters: Counters;
  series?: CounterSeries;
  stdout?: LineBuffer;
  stderr?: LineBuffer;
  /**
   * How long tree changes are gathered before they go out as one patch, in
   * milliseconds (default 16, one display frame): a node that starts and ends within one frame
   * is never sent.
   */
  frameMs?: number;
  /** How often counters, series and new lines go out, in milliseconds. Default 500. */
  statsMs?: number;
}

/** A watcher of a {@link LiveFeed}: gets one snapshot, then patches. */
export interface LiveWatcher {
  snapshot(snapshot: InspectorSnapshot): void;
  patch(patch: LivePatch): void;
  /** Called when the feed closes (the inspector's scope ended). */
  close?(): void;
}

/**
 * The inspector's live view of the tree: the one place that watches
 * `label()`'s tree, and only while somebody watches the feed.
 */
export interface LiveFeed {
  /** Adds a watcher: it gets a snapshot now, then patches; the returned function removes it. */
  watch(watcher: LiveWatcher): () => void;
  /** How many watchers are attached. */
  readonly watchers: number;
  /** Removes every watcher and stops watching the tree. */
  close(): void;
}

/**
 * Creates the live feed behind the inspector's SSE endpoint. While no watcher
 * is attached it does nothing at all: no tree listener, no timer. With one or
 * more, it listens to the label tree, gathers changes per frame (`frameMs`)
 * into one {@link LivePatch} for every watcher (a node that started and ended
 * within the frame is left out), and sends counters, series and new lines
 * every `statsMs`.
 *
 * @example
 * ```ts
 * const feed = createLiveFeed({ snapshot: () => inspector.snapshot(), counters: inspector.counters });
 * const stop = feed.watch({
 *   snapshot: (s) => console.log("nodes under root:", s.tree.children.length),
 *   patch: (p) => console.log("changed:", p.upsert?.length ?? 0, "ended:", p.remove?.length ?? 0),
 * });
 * ```
 */
export function createLiveFeed(options: LiveFeedOptions): LiveFeed {
  const frameMs = options.frameMs ?? 16;
  const statsMs = options.statsMs ?? 500;
  const watchers = new Map<LiveWatcher, { stdout: number; stderr: number }>();
  let unwatch: (() => void) | undefined;
  let stats: ReturnType<typeof setInterval> | undefined;
  let frame: ReturnType<typeof setTimeout> | undefined;
  /** Nodes to upsert in the next patch, in first-change order. */
  const pending = new Map<number, LabelNode>();
  /** Nodes that started within the current frame (watchers do not know them yet). */
  const fresh = new Set<number>();
  const removed: number[] = [];
  let failuresSeen = 0;

  const onChange = (change: LabelChange) => {
    const { node } = change;
    if (change.type === "start") {
      fresh.add(node.id);
      pending.set(node.id, node);
    } else if (change.type === "update") {
      pending.set(node.id, node);
    } else if (fresh.delete(node.id)) {
      pending.delete(node.id);
    } else {
      pending.delete(node.id);
      removed.push(node.id);
    }
    frame ??= setTimeout(flush, frameMs);
  };

  function flush(): void {
    frame = undefined;
    const patch: LivePatch = { time: new Date().toISOString() };
    if (pending.size > 0) patch.upsert = [...pending.values()].map(liveNode);
    if (removed.length > 0) patch.remove = removed.splice(0);
    pending.clear();
    fresh.clear();
    const failures = newFailures();
    if (failures) patch.failures = failures;
    if (patch.upsert || patch.remove || patch.failures) send(() => patch);
  }

  function newFailures(): LabelFailure[] | undefined {
    const all = recentFailures();
    const last = all.at(-1)?.seq ?? 0;
    if (last === failuresSeen) return undefined;
    const out = all.filter((f) => f.seq > failuresSeen);
    failuresSeen = last;
    return out.length ? out : undefined;
  }

  function sendStats(): void {
    const time = new Date().toISOString();
    const counters = options.counters.get();
    const series = options.series?.get();
    const panels = readPanels();
    send((cursor) => {
      const patch: LivePatch = { time, counters, panels };
      if (series) patch.series = series;
      const out = newLines(options.stdout, cursor.stdout);
      if (out.length) patch.stdout = out;
      const err = newLines(options.stderr, cursor.stderr);
      if (err.length) patch.stderr = err;
      cursor.stdout = options.stdout?.total ?? 0;
      cursor.stderr = options.stderr?.total ?? 0;
      return patch;
    });
  }

  function send(make: (cursor: { stdout: number; stderr: number }) => LivePatch): void {
    for (const [watcher, cursor] of watchers) {
      try {
        watcher.patch(make(cursor));
      } catch {
        // a watcher that fails to take a patch must not stop the others
      }
    }
  }

  function stop(): void {
    unwatch?.();
    unwatch = undefined;
    if (stats !== undefined) clearInterval(stats);
    if (frame !== undefined) clearTimeout(frame);
    stats = frame = undefined;
    pending.clear();
    fresh.clear();
    removed.length = 0;
  }

  return {
    get watchers() {
      return watchers.size;
    },
    watch(watcher) {
      if (watchers.size === 0) {
        unwatch = watchLabels(onChange);
        stats = setInterval(sendStats, statsMs);
        failuresSeen = recentFailures().at(-1)?.seq ?? 0;
      } else if (frame !== undefined) {
        // the others' pending changes are already in this newcomer's snapshot
        flush();
      }
      watchers.set(watcher, {
        stdout: options.stdout?.total ?? 0,
        stderr: options.stderr?.total ?? 0,
      });
      watcher.snapshot(options.snapshot());
      return () => {
        if (!watchers.delete(watcher)) return;
        if (watchers.size === 0) stop();
      };
    },
    close() {
      const all = [...watchers.keys()];
      watchers.clear();
      stop();
      for (const watcher of all) watcher.close?.();
    },
  };
}

function liveNode(node: LabelNode): LiveNode {
  return {
    id: node.id,
    parentId: node.parent?.id ?? 0,
    name: node.name,
    kind: node.kind,
    state: node.state,
    startedAt: new Date(node.startedAt).toISOString(),
    attributes: { ...node.attributes },
  };
}

function newLines(buffer: LineBuffer | undefined, seen: number): string[] {
  if (buffer === undefined) return [];
  const count = Math.min(buffer.total - seen, buffer.capacity);
  return count > 0 ? buffer.lines().slice(-count) : [];
}
