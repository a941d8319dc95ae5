/**
 * HTTP whose handlers are branches of the task tree: `useServer`, `createRouter`, replies, long-
 * poll, NDJSON, SSE and WebSockets.
 *
 * @module bough/http
 */
export * from "./context.js";
export * from "./errors.js";
export * from "./long-poll.js";
export * from "./ndjson.js";
export type { StreamOptions } from "./pump.js";
export * from "./reply.js";
export * from "./router.js";
export * from "./server.js";
export * from "./sse.js";
export * from "./static.js";
export * from "./websocket.js";
export * from "./writer.js";
