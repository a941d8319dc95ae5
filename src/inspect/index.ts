export * from "./capture.js";
export * from "./counters.js";
export * from "./inspector.js";
export * from "./line-buffer.js";
export * from "./snapshot.js";
export * from "./status-page.js";
export * from "./status-routes.js";
export * from "./status-server.js";
