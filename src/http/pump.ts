import type { ServerResponse } from "node:http";
import { action, type Operation, type Stream } from "effection";
import { Continuation } from "../core/continuation.js";
import { CursorExpiredError, InvalidCursorError } from "../core/errors.js";
import { withLease } from "../core/lease.js";
import type { RequestContext } from "./context.js";
import { HttpError } from "./errors.js";
import { type BackpressureOptions, createStreamWriter, type StreamWriter } from "./writer.js";

/** Options shared by the streaming replies (`sse`, `ndjson`). */
export interface StreamOptions extends BackpressureOptions {
  /**
   * How often a heartbeat is sent while the stream is idle, in ms. Default
   * 15000. `0` turns heartbeats (and reaping) off.
   */
  heartbeatMs?: number;
  /**
   * A connection that makes no progress for this many heartbeat windows in a
   * row (bytes wait to be sent and none leave) is treated as half-open and
   * destroyed. Default 2.
   */
  missedHeartbeats?: number;
}

/** @internal what a stream reply writes besides its items. */
export interface PumpFrame {
  /** Writes the status and headers (and any preamble); called once the source is open. */
  head(res: ServerResponse): void;
  /** The heartbeat chunk (an SSE comment, an empty NDJSON line). */
  heartbeat: Buffer;
  /** Written just before the response ends on shutdown, if any. */
  final: Buffer | undefined;
  /**
   * Encodes the notice sent first when the client's cursor had expired and the
   * source restarted at a defined point (SSE's `event: reset`). Without it an
   * expired cursor is refused with 410 before the stream starts.
   */
  reset?: (expired: CursorExpiredError) => Buffer;
}

/**
 * @internal The answer to a source that failed to open, before any header was
 * sent: a malformed cursor is the client's mistake (400), an expired one that
 * the format cannot reset is gone (410); anything else stays as it is.
 */
export function openFailure(error: unknown): unknown {
  if (error instanceof InvalidCursorError) {
    return new HttpError(400, error.message, { code: "BOUGH_HTTP_BAD_CURSOR", cause: error });
  }
  if (error instanceof CursorExpiredError) {
    return new HttpError(410, error.message, { code: "BOUGH_HTTP_CURSOR_EXPIRED", cause: error });
  }
  return error;
}

/**
 * @internal Opens `stream` first (so that a bad cursor still gets a plain 400
 * before anything is sent), then writes the headers and copies the stream to
 * the response through a backpressure-aware writer, with heartbeats, reaping
 * and a final chunk on shutdown. Chunks are `Buffer`s, encoded once, so the
 * per-connection cap counts bytes. Returns when the stream ends (the response
 * is then ended); is halted when the client leaves. A `HEAD` request gets the
 * headers and an ended response.
 */
export function* pump<T>(
  ctx: RequestContext,
  stream: Stream<T, unknown>,
  format: (item: T) => Buffer,
  frame: PumpFrame,
  options: StreamOptions,
): Operation<void> {
  const res = ctx.response;
  let opened = false;
  try {
    // withLease: a hub subscription is opened without a resource task; the request's
    // own lifetime bounds it instead.
    yield* withLease(
      stream,
      function* (subscription, reset) {
        opened = true;
        frame.head(res);
        if (ctx.method === "HEAD") return;
        if (reset !== undefined && frame.reset !== undefined) res.write(frame.reset(reset));
        yield* copy(ctx, subscription, format, frame, options);
      },
      { onExpired: frame.reset === undefined ? "throw" : "reset" },
    );
  } catch (error) {
    throw opened ? error : openFailure(error);
  }
  if (!res.writableEnded) res.end();
}

function* copy<T>(
  ctx: RequestContext,
  subscription: { next(): Operation<IteratorResult<T, unknown>> },
  format: (item: T) => Buffer,
  frame: PumpFrame,
  options: StreamOptions,
): Operation<void> {
  const res = ctx.response;
  const writer = createStreamWriter(res, options);
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const stopBeat =
    heartbeatMs > 0
      ? ctx.host.timers.every(
          heartbeatMs,
          heartbeat(ctx, writer, frame.heartbeat, options.missedHeartbeats ?? 2),
        )
      : undefined;
  if (heartbeatMs > 0) res.socket?.setKeepAlive(true, heartbeatMs);
  const stopShutdown = ctx.host.onShutdown(() => {
    if (writer.closed) return;
    if (frame.final !== undefined) res.write(frame.final);
    res.end();
  });
  try {
    for (;;) {
      const peek = subscription.next()[Symbol.iterator]();
      const first = peek.next();
      let next: IteratorResult<T, unknown>;
      if (first.done) {
        next = first.value;
      } else {
        next = yield* new Continuation<IteratorResult<T, unknown>>(peek, first.value);
        // Woken by the source: let it finish its burst before draining, so a
        // broadcast of many messages costs one wake-up per connection, not one
        // per message (and one write syscall, see the writer's cork).
        yield* afterMicrotask();
      }
      if (next.done) break;
      const chunk = format(next.value);
      if (writer.tryWrite(chunk) === undefined) yield* writer.write(chunk);
    }
  } finally {
    stopBeat?.();
    stopShutdown();
  }
}

/** A heartbeat tick for one connection: reap it if it is stuck, else send a beat if idle. */
function heartbeat(ctx: RequestContext, writer: StreamWriter, beat: Buffer, missed: number) {
  let stalled = 0;
  let lastSent = -1;
  return () => {
    const res = ctx.response;
    const socket = res.socket;
    if (socket === null || writer.closed) return;
    const pending = res.writableLength;
    const sent = socket.bytesWritten - socket.writableLength;
    if (pending > 0 && sent === lastSent) {
      if (++stalled >= missed) {
        res.destroy();
        return;
      }
    } else {
      stalled = 0;
    }
    lastSent = sent;
    if (pending === 0) res.write(beat);
  };
}

/**
 * @internal Encoded chunks by item, shared by every connection of a kind
 * (SSE, NDJSON, long-poll replies): a broadcast hands the same message object
 * to many connections, so each message is formatted once, not once per
 * connection.
 * An entry only counts for the same formatter functions (`a`, `b`, `c`). The
 * cache is dropped at the end of each turn, so an item mutated and sent again
 * later is never served stale.
 */
export class FormatCache<V = Buffer> {
  private entries = new WeakMap<object, { a: unknown; b: unknown; c: unknown; chunk: V }>();
  private clearing = false;

  get(item: unknown, a: unknown, b: unknown, c: unknown): V | undefined {
    if (typeof item !== "object" || item === null) return undefined;
    const entry = this.entries.get(item);
    return entry !== undefined && entry.a === a && entry.b === b && entry.c === c
      ? entry.chunk
      : undefined;
  }

  set(item: unknown, a: unknown, b: unknown, c: unknown, chunk: V): void {
    if (typeof item !== "object" || item === null) return;
    this.entries.set(item, { a, b, c, chunk });
    if (!this.clearing) {
      this.clearing = true;
      setImmediate(() => {
        this.entries = new WeakMap();
        this.clearing = false;
      });
    }
  }
}

function afterMicrotask(): Operation<void> {
  return action<void>((resolve) => {
    queueMicrotask(resolve);
    return () => {};
  });
}
