import type { Operation, Stream } from "effection";
import type { CursorExpiredError } from "../core/errors.js";
import type { RequestContext } from "./context.js";
import { FormatCache, type PumpFrame, pump, type StreamOptions } from "./pump.js";
import { StreamReply } from "./reply.js";

/** One server-sent event. */
export interface SseEvent {
  /** The event id; the browser sends the last one back as `Last-Event-ID` on reconnect. */
  id?: string;
  /** The event type (`addEventListener(type, …)`); `message` when absent. */
  event?: string;
  /** The payload; newlines become several `data:` lines. */
  data: string;
  /** Tells the browser how long to wait before reconnecting, in ms. */
  retry?: number;
}

/** Options of {@link sse}. */
export interface SseOptions<T> extends StreamOptions {
  /**
   * The event id of an item. Default: `item.id` when the item is an object
   * with a string or number `id` (as hub messages are), else none.
   */
  id?: (item: T) => string | undefined;
  /** The event type of an item. Default: none (`message`). */
  event?: (item: T) => string | undefined;
  /** The payload of an item. Default: strings as they are, anything else as JSON. */
  data?: (item: T) => string;
  /** Sent once at the start as `retry:`, in ms. Default: not sent. */
  retryMs?: number;
  /**
   * The event sent to open streams when the server shuts down, or `false` for
   * none. Default `{ event: "shutdown", data: "server shutting down" }`.
   */
  final?: SseEvent | false;
}

/**
 * Encodes one event in the `text/event-stream` format.
 *
 * @example
 * ```ts
 * encodeEvent({ id: "7", event: "tick", data: "{\"n\":7}" });
 * // "id: 7\nevent: tick\ndata: {\"n\":7}\n\n"
 * ```
 */
export function encodeEvent(event: SseEvent): string {
  let out = "";
  if (event.id !== undefined) out += `id: ${oneLine(event.id)}\n`;
  if (event.event !== undefined) out += `event: ${oneLine(event.event)}\n`;
  if (event.retry !== undefined) out += `retry: ${Math.floor(event.retry)}\n`;
  const data = event.data;
  if (data.indexOf("\n") < 0 && data.indexOf("\r") < 0) return `${out}data: ${data}\n\n`;
  for (const line of data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return `${out}\n`;
}

function oneLine(value: string): string {
  return value.replace(/[\r\n]/g, "");
}

function defaultId(item: unknown): string | undefined {
  if (typeof item === "object" && item !== null) {
    const id = (item as { id?: unknown }).id;
    if (typeof id === "string") return id;
    if (typeof id === "number") return String(id);
  }
  return undefined;
}

function defaultData(item: unknown): string {
  return typeof item === "string" ? item : JSON.stringify(item);
}

const SHUTDOWN: SseEvent = { event: "shutdown", data: "server shutting down" };
/** The default final event, encoded once for every connection. */
const SHUTDOWN_CHUNK = Buffer.from(encodeEvent(SHUTDOWN));
const HEARTBEAT = Buffer.from(":\n\n");

/**
 * The `reset` event sent first when `Last-Event-ID` named a cursor the source
 * could no longer resume (older than its retention, or from another run): the
 * stream restarts at the oldest retained message, or from now. Its `id` moves
 * the browser's cursor to that point (empty: none, so a reconnect starts from
 * now again).
 *
 * @example
 * ```ts
 * encodeResetEvent(new CursorExpiredError("57", "ahead", undefined));
 * // 'id: \nevent: reset\ndata: {"cursor":"57","reason":"ahead","resumeAfter":null}\n\n'
 * ```
 */
export function encodeResetEvent(expired: CursorExpiredError): string {
  const resumeAfter = expired.resetTo ?? null;
  return encodeEvent({
    id: expired.resetTo ?? "",
    event: "reset",
    data: JSON.stringify({ cursor: expired.cursor, reason: expired.reason, resumeAfter }),
  });
}

const cache = new FormatCache();

/**
 * The reply is its own pump frame (headers, format, final and reset events):
 * a connection keeps this one object rather than a frame and its closures.
 */
class SseReply<T> extends StreamReply implements PumpFrame<T> {
  constructor(
    private stream: Stream<T, unknown>,
    private options: SseOptions<T>,
  ) {
    super();
  }

  run(ctx: RequestContext): Operation<void> {
    return pump(ctx, this.stream, this, this.options);
  }

  head(ctx: RequestContext): void {
    const res = ctx.response;
    const headers: Record<string, string> = {
      "content-type": "text/event-stream",
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
    };
    if (ctx.request.httpVersion === "1.1") headers.connection = "keep-alive";
    res.writeHead(200, headers);
    const retryMs = this.options.retryMs;
    if (retryMs !== undefined) res.write(`retry: ${Math.floor(retryMs)}\n\n`);
    else res.flushHeaders();
  }

  get heartbeat(): Buffer {
    return HEARTBEAT;
  }

  /** Encoded when shutdown needs it: most connections never send it. */
  get final(): Buffer | undefined {
    const final = this.options.final;
    if (final === undefined) return SHUTDOWN_CHUNK;
    return final === false ? undefined : Buffer.from(encodeEvent(final));
  }

  reset(expired: CursorExpiredError): Buffer {
    return Buffer.from(encodeResetEvent(expired));
  }

  format(item: T): Buffer {
    const { id = defaultId, event, data = defaultData } = this.options;
    const cached = cache.get(item, id, event, data);
    if (cached !== undefined) return cached;
    const chunk = Buffer.from(
      encodeEvent({ id: id(item), event: event?.(item), data: data(item) }),
    );
    cache.set(item, id, event, data, chunk);
    return chunk;
  }
}

/**
 * A server-sent-events reply: every item of `stream` becomes one event, with
 * its `id` taken from the item (hub messages carry theirs), so a browser that
 * reconnects sends `Last-Event-ID` and the handler resumes from there:
 * `sse(hub.subscribe({ after: ctx.lastEventId }))`.
 *
 * The stream is opened before any header is sent. A malformed cursor gets
 * `400` (the browser's `EventSource` then stops: it never reconnects after a
 * non-200 answer). A cursor the hub can no longer resume — older than its
 * history, or from another run (ahead of the topic) — starts the stream at the
 * oldest retained message (or from now) with an `event: reset` first (see
 * {@link encodeResetEvent}): the client learns that it missed messages and
 * the stream goes on. Items are encoded once to a `Buffer`, so the
 * per-connection cap counts bytes.
 *
 * Headers: `Content-Type: text/event-stream`, `Cache-Control: no-cache,
 * no-transform`, `X-Accel-Buffering: no`, `Connection: keep-alive` (HTTP/1.1).
 * Idle streams get a comment line every `heartbeatMs`; a connection stuck for
 * `missedHeartbeats` windows is reaped; a slow client costs at most
 * `maxBufferedBytes` (policy `wait`, `drop` or `close`). On shutdown, open
 * streams get a final `shutdown` event.
 *
 * A broadcast item is formatted once for all connections when the
 * formatters (`id`, `event`, `data`) are the same functions for each: define
 * them once, outside the handler.
 *
 * @example
 * ```ts
 * router.get("/events", function* (ctx) {
 *   return sse(hub.subscribe({ after: ctx.lastEventId }), {
 *     heartbeatMs: 10_000,
 *     data: (message) => JSON.stringify(message.value),
 *   });
 * });
 * ```
 */
export function sse<T>(
  stream: Stream<T, unknown>,
  options: SseOptions<T> = NO_OPTIONS,
): StreamReply {
  return new SseReply(stream, options);
}

/** The options of an `sse()` call without any: shared, since every connection keeps its reply's. */
const NO_OPTIONS: SseOptions<any> = Object.freeze({});
