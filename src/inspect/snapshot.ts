import { type LabelFailure, type LabelTree, labelTree, recentFailures } from "../core/labels.js";
import { type PanelSnapshot, readPanels } from "../core/panels.js";
import type { CounterSeries } from "./counter-series.js";
import type { Counters, CounterValue } from "./counters.js";
import type { LineBuffer } from "./line-buffer.js";

/** What the inspector knows about the process at one moment; plain JSON. */
export interface InspectorSnapshot {
  /** The process id. */
  pid: number;
  /** When the snapshot was taken (ISO 8601, wall clock). */
  time: string;
  /** How long the process has been running, in milliseconds. */
  uptimeMs: number;
  /** `process.memoryUsage()`: `rss`, `heapTotal`, `heapUsed`, `external`, `arrayBuffers` in bytes. */
  memory: NodeJS.MemoryUsage;
  /** The app's counters (`counters.get()`). */
  counters: Record<string, CounterValue>;
  /** The live labelled task tree (`labelTree()` from `bough`). */
  tree: LabelTree;
  /** The last complete lines written to stdout, oldest first. */
  stdout: string[];
  /** The last complete lines written to stderr, oldest first. */
  stderr: string[];
  /** The last failures of labelled tasks, oldest first, with stack and path (`recentFailures()`). */
  failures: LabelFailure[];
  /** Each numeric counter's recent samples, oldest first (one a second in `useInspector`). */
  series: Record<string, number[]>;
  /** What the pools, hubs, HTTP servers and sources of this process show of themselves (`usePanel()`). */
  panels: PanelSnapshot[];
}

/** Options of {@link takeSnapshot}. */
export interface SnapshotOptions {
  /** The counters' history to include as `series` (default: none). */
  series?: CounterSeries;
  /** How many of the last failures to include (default 20). */
  failures?: number;
}

/**
 * Takes an {@link InspectorSnapshot} from counters and the captured lines
 * (`undefined` lines: nothing captured, empty lists), with the last failures
 * of labelled tasks and, when given, the counters' series. Cheap and synchronous,
 * so any request handler can call it.
 *
 * @example
 * ```ts
 * const counters = createCounters();
 * counters.inc("iterations");
 * const snapshot = takeSnapshot(counters);
 * console.log(snapshot.counters.iterations, snapshot.tree.children.length);
 * ```
 */
export function takeSnapshot(
  counters: Counters,
  stdout?: LineBuffer,
  stderr?: LineBuffer,
  options: SnapshotOptions = {},
): InspectorSnapshot {
  return {
    pid: process.pid,
    time: new Date().toISOString(),
    uptimeMs: Math.round(process.uptime() * 1000),
    memory: process.memoryUsage(),
    counters: counters.get(),
    tree: labelTree(),
    stdout: stdout?.lines() ?? [],
    stderr: stderr?.lines() ?? [],
    failures: recentFailures(options.failures ?? 20),
    series: options.series?.get() ?? {},
    panels: readPanels(),
  };
}
