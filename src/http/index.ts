/**
 * HTTP whose handlers are branches of the task tree: `useServer`, `createRouter`, replies, long-
 * poll, NDJSON, SSE and WebSockets.
 *
 * @module bough/http
 */
export {
  RequestContext,
  type RequestHost,
} from "./context.js";
export {
  HttpError,
  isClientGone,
  MalformedJsonError,
  PayloadTooLargeError,
  SlowConsumerError,
  StreamClosedError,
} from "./errors.js";
export {
  type LongPollOptions,
  longPoll,
} from "./long-poll.js";
export {
  type NdjsonOptions,
  ndjson,
} from "./ndjson.js";
export type { StreamOptions } from "./pump.js";
export {
  BodyReply,
  error,
  html,
  json,
  NO_CONTENT,
  type Reply,
  StreamReply,
  text,
  writeValue,
} from "./reply.js";
export {
  createRouter,
  type HttpMethod,
  type Router,
} from "./router.js";
export {
  type App,
  type Handler,
  type RequestListener,
  type RequestListenerOptions,
  type Server,
  type ServerHost,
  type ServerLogger,
  type ServerOptions,
  useRequestListener,
  useServer,
} from "./server.js";
export {
  encodeEvent,
  encodeResetEvent,
  type SseEvent,
  type SseOptions,
  sse,
} from "./sse.js";
export {
  type StaticOptions,
  serveStatic,
} from "./static.js";
export type {
  WebSocketConnection,
  WebSocketHandler,
  WebSocketMessage,
  WebSocketOptions,
} from "./websocket.js";
export {
  type BackpressureOptions,
  type BackpressurePolicy,
  createStreamWriter,
  DEFAULT_MAX_BUFFERED_BYTES,
  type StreamWriter,
} from "./writer.js";
