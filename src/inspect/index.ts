/**
 * The inspector: the live task tree, counters and the last lines of stdout and stderr, as JSON and
 * as an HTML page.
 *
 * @module bough/inspect
 */
export {
  useCapture,
  type WritableLike,
} from "./capture.js";
export {
  type CounterSeries,
  type CounterSeriesOptions,
  createCounterSeries,
} from "./counter-series.js";
export {
  type Counters,
  type CounterValue,
  createCounters,
} from "./counters.js";
export {
  type Inspector,
  type InspectorOptions,
  useInspector,
} from "./inspector.js";
export {
  createLineBuffer,
  type LineBuffer,
  type LineBufferOptions,
} from "./line-buffer.js";
export {
  createLiveFeed,
  type LiveFeed,
  type LiveFeedOptions,
  type LiveNode,
  type LivePatch,
  type LiveWatcher,
} from "./live-feed.js";
export {
  type InspectorSnapshot,
  type SnapshotOptions,
  takeSnapshot,
} from "./snapshot.js";
export {
  escapeHtml,
  renderStatusPage,
  STATUS_PAGE_CSP,
  type StatusPageOptions,
} from "./status-page.js";
export {
  createStatusRoutes,
  type NodeHandler,
  type StatusRoutes,
  type StatusRoutesOptions,
} from "./status-routes.js";
export {
  type StatusServer,
  type StatusServerOptions,
  useStatusServer,
} from "./status-server.js";
