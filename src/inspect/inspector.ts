import { ensure, type Operation, resource } from "effection";
import { useCapture } from "./capture.js";
import { createCounterSeries } from "./counter-series.js";
import { type Counters, createCounters } from "./counters.js";
import type { LineBuffer } from "./line-buffer.js";
import { createLiveFeed, type LiveFeed } from "./live-feed.js";
import { type InspectorSnapshot, takeSnapshot } from "./snapshot.js";
import {
  createStatusRoutes,
  type StatusRoutes,
  type StatusRoutesOptions,
} from "./status-routes.js";
import { type StatusServerOptions, useStatusServer } from "./status-server.js";

/** Options of {@link useInspector}. */
export interface InspectorOptions {
  /**
   * What to capture of `process.stdout` and `process.stderr`: the last `lines`
   * complete lines of each (default 1000), each cut at `maxLineLength`
   * characters (default 16,384). `false` captures nothing.
   */
  capture?: { lines?: number; maxLineLength?: number } | false;
  /**
   * Serve the status page on a server of its own (see {@link useStatusServer}):
   * on `host` (default `"127.0.0.1"`, whatever address the app itself uses)
   * and `port` (default `0`: any free one), at `prefix` (default `/status`),
   * optionally requiring `token`; `title`, `refreshMs` and `lines` (how many
   * lines per stream the live page keeps; default: as many as `capture`
   * keeps) shape the page. Default: no server; mount `statusRoutes()` yourself.
   */
  listen?: StatusServerOptions & Omit<StatusRoutesOptions, "live">;
  /** How many of the last failures of labelled tasks the page and JSON show (default 20). */
  failures?: number;
  /**
   * The live page's pace: tree changes are gathered for `frameMs` (default
   * 16, one display frame) and sent as one patch; counters, series and new lines go out every
   * `statsMs` (default 500); counters are sampled for their sparklines every
   * `sampleMs` (default 1000, 60 samples kept).
   */
  live?: { frameMs?: number; statsMs?: number; sampleMs?: number; samples?: number };
}

/** The inspector of a running app: see {@link useInspector}. */
export interface Inspector {
  /**
   * The status page's URL when started with `listen`, e.g.
   * `http://127.0.0.1:9464/status`; `undefined` otherwise.
   */
  readonly url: string | undefined;
  /** The app's counters, shown on the status page. */
  readonly counters: Counters;
  /** The captured complete lines of `stream`, oldest first (empty if not captured). */
  lines(stream: "stdout" | "stderr"): string[];
  /** Process facts, counters and their series, the live labelled task tree, recent failures and the captured lines, now. */
  snapshot(): InspectorSnapshot;
  /**
   * The live feed behind the page's SSE endpoint: a snapshot, then patches.
   * It watches the task tree only while a watcher is attached.
   */
  readonly live: LiveFeed;
  /**
   * `node:http` handlers serving {@link Inspector.snapshot} as an HTML page at
   * `prefix` (default `/status`) and as JSON at `prefix + ".json"`, optionally
   * requiring a `token`.
   */
  statusRoutes(
    prefix?: string,
    options?: Omit<StatusRoutesOptions, "prefix" | "live">,
  ): StatusRoutes;
}

/**
 * Makes a running app introspectable: while the calling scope lives, the
 * last N lines written to `process.stdout` and `process.stderr` are kept in
 * memory (by wrapping their `write`, which keeps its return value and
 * callback), the app keeps counters, and `statusRoutes()` serves all of it,
 * with the live tree of tasks named by `label()`, as JSON and as a
 * self-refreshing HTML page that any `node:http` server can mount. When the
 * scope ends, the streams' original `write` methods are back.
 *
 * Lines written through `console.log`/`console.error` are captured too, since
 * they go through `write`.
 *
 * What the page exposes — captured stdout/stderr lines, counters, the task
 * tree's labels, pid, uptime and memory — is for the machine's operator: with
 * `listen` the page gets a server of its own on 127.0.0.1 unless told
 * otherwise, and a `token` to require.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { main, suspend } from "effection";
 * import { label } from "bough";
 * import { useInspector } from "bough/inspect";
 *
 * await main(function* () {
 *   yield* label("daemon");
 *   const inspector = yield* useInspector({ capture: { lines: 1000 } });
 *   const routes = inspector.statusRoutes("/status");
 *   const server = createServer((req, res) => {
 *     if (!routes.handle(req, res)) res.writeHead(404).end();
 *   }).listen(8080);
 *   try {
 *     inspector.counters.inc("iterations");
 *     console.log("working");  // shows on http://localhost:8080/status
 *     yield* suspend();
 *   } finally {
 *     server.close();
 *   }
 * });
 * ```
 *
 * @example
 * ```ts
 * // the app listens on every interface; its status page stays on this machine
 * const inspector = yield* useInspector({ listen: { port: 9464, token: process.env.STATUS_TOKEN } });
 * console.log(inspector.url); // http://127.0.0.1:9464/status
 * ```
 */
export function useInspector(options: InspectorOptions = {}): Operation<Inspector> {
  const capture = options.capture ?? {};
  return resource(function* (provide) {
    const counters = createCounters();
    let stdout: LineBuffer | undefined;
    let stderr: LineBuffer | undefined;
    if (capture !== false) {
      const lines = { lines: capture.lines ?? 1000, maxLineLength: capture.maxLineLength };
      stdout = yield* useCapture(process.stdout, lines);
      stderr = yield* useCapture(process.stderr, lines);
    }
    const pace = options.live ?? {};
    const series = createCounterSeries(counters, { samples: pace.samples ?? 60 });
    const sampler = setInterval(() => series.sample(), pace.sampleMs ?? 1000);
    sampler.unref();
    yield* ensure(() => clearInterval(sampler));
    const snapshot = () =>
      takeSnapshot(counters, stdout, stderr, { series, failures: options.failures });
    const live = createLiveFeed({
      snapshot,
      counters,
      series,
      stdout,
      stderr,
      frameMs: pace.frameMs,
      statsMs: pace.statsMs,
    });
    yield* ensure(() => live.close());
    const lines = capture === false ? undefined : (capture.lines ?? 1000);
    const listen = options.listen;
    let url: string | undefined;
    if (listen !== undefined) {
      const { port, host, ...page } = listen;
      const routes = createStatusRoutes(snapshot, { lines, ...page, live });
      url = (yield* useStatusServer(routes, { port, host })).url;
    }
    yield* provide({
      url,
      counters,
      live,
      lines: (stream) => (stream === "stdout" ? stdout : stderr)?.lines() ?? [],
      snapshot,
      statusRoutes: (prefix = "/status", page = {}) =>
        createStatusRoutes(snapshot, { lines, ...page, prefix, live }),
    });
  });
}
