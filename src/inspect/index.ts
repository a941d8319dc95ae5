/**
 * The inspector: the live task tree, counters and the last lines of stdout and stderr, as JSON and
 * as an HTML page.
 *
 * @module bough/inspect
 */
export * from "./capture.js";
export * from "./counter-series.js";
export * from "./counters.js";
export * from "./inspector.js";
export * from "./line-buffer.js";
export * from "./live-feed.js";
export * from "./snapshot.js";
export * from "./status-page.js";
export * from "./status-routes.js";
export * from "./status-server.js";
