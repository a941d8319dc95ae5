import { action, type Operation, type Stream, type Subscription } from "effection";
import { Continuation } from "../core/continuation.js";
import { CursorExpiredError, InvalidCursorError } from "../core/errors.js";
import { type Lease, type LeaseOptions, openLease } from "../core/lease.js";
import type { RequestContext, RequestHost } from "./context.js";
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

/**
 * @internal What a stream reply writes: its items, and around them its
 * headers, heartbeats, final chunk and reset notice. A reply implements it
 * itself (`sse`, `ndjson`), so a connection makes no frame object or
 * closures of its own.
 */
export interface PumpFrame<T> {
  /** Writes the status and headers (and any preamble); called once the source is open. */
  head(ctx: RequestContext): void;
  /** Encodes one item (once per item for every connection, see {@link FormatCache}). */
  format(item: T): Buffer;
  /** The heartbeat chunk (an SSE comment, an empty NDJSON line). */
  readonly heartbeat: Buffer;
  /** Written just before the response ends on shutdown, if any. */
  readonly final: Buffer | undefined;
  /**
   * Encodes the notice sent first when the client's cursor had expired and the
   * source restarted at a defined point (SSE's `event: reset`). Without it an
   * expired cursor is refused with 410 before the stream starts.
   */
  reset?(expired: CursorExpiredError): Buffer;
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

/** Shared, so that opening a connection's lease allocates no options. */
const EXPIRED_THROWS: LeaseOptions = Object.freeze({ onExpired: "throw" });
const EXPIRED_RESETS: LeaseOptions = Object.freeze({ onExpired: "reset" });

/**
 * @internal Opens `stream` first (so that a bad cursor still gets a plain 400
 * before anything is sent), then writes the headers and copies the stream to
 * the response through a backpressure-aware writer, with heartbeats, reaping
 * and a final chunk on shutdown. Chunks are `Buffer`s, encoded once, so the
 * per-connection cap counts bytes. Returns when the stream ends (the response
 * is then ended); is halted when the client leaves. A `HEAD` request gets the
 * headers and an ended response.
 *
 * One generator holds the whole connection (lease, loop and cleanup): an idle
 * connection is this frame, the subscription's, and one {@link Pumped}; a
 * body function per connection and a generator per layer were 1-2 KB each
 * (bench http, RSS per idle SSE connection).
 */
export function* pump<T>(
  ctx: RequestContext,
  stream: Stream<T, unknown>,
  frame: PumpFrame<T>,
  options: StreamOptions,
): Operation<void> {
  const res = ctx.response;
  // openLease: a hub subscription is opened without a resource task; the request's
  // own lifetime bounds it instead (the finally below).
  let lease: Lease<Subscription<T, unknown>>;
  try {
    lease = yield* openLease(stream, frame.reset === undefined ? EXPIRED_THROWS : EXPIRED_RESETS);
  } catch (error) {
    throw openFailure(error);
  }
  let pumped: Pumped<T> | undefined;
  try {
    frame.head(ctx);
    // a HEAD request gets the headers and an ended response
    if (ctx.method !== "HEAD") {
      if (lease.reset !== undefined && frame.reset !== undefined) {
        res.write(frame.reset(lease.reset));
      }
      pumped = new Pumped(ctx, frame, options);
      const writer = pumped.writer;
      const subscription = lease.subscription;
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
        const chunk = frame.format(next.value);
        if (writer.tryWrite(chunk) === undefined) yield* writer.write(chunk);
      }
    }
  } finally {
    pumped?.stop();
    lease.close();
  }
  if (!res.writableEnded) res.end();
}

/**
 * One pumped connection's writer, heartbeat and shutdown, in one object: it
 * joins the server's heartbeat group itself (`tick()`) and its host's set of
 * open streams, with no closure per connection.
 */
class Pumped<T> {
  readonly writer: StreamWriter;
  /** Heartbeat windows in a row in which bytes waited and none left. */
  private stalled = 0;
  private lastSent = -1;
  private readonly heartbeatMs: number;
  private readonly missed: number;
  private readonly streams: Set<Pumped<unknown>>;

  constructor(
    private readonly ctx: RequestContext,
    private readonly frame: PumpFrame<T>,
    options: StreamOptions,
  ) {
    const res = ctx.response;
    this.writer = createStreamWriter(res, options);
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.missed = options.missedHeartbeats ?? 2;
    if (this.heartbeatMs > 0) {
      ctx.host.timers.join(this.heartbeatMs, this);
      res.socket?.setKeepAlive(true, this.heartbeatMs);
    }
    this.streams = openStreams(ctx.host);
    this.streams.add(this);
  }

  /** On shutdown: the final chunk, then the end of the response. */
  shutdown(): void {
    if (this.writer.closed) return;
    const res = this.ctx.response;
    const final = this.frame.final;
    if (final !== undefined) res.write(final);
    res.end();
  }

  /** A heartbeat tick: reap the connection if it is stuck, else send a beat if it is idle. */
  tick(): void {
    const res = this.ctx.response;
    const socket = res.socket;
    if (socket === null || this.writer.closed) return;
    const pending = res.writableLength;
    const sent = socket.bytesWritten - socket.writableLength;
    if (pending > 0 && sent === this.lastSent) {
      if (++this.stalled >= this.missed) {
        res.destroy();
        return;
      }
    } else {
      this.stalled = 0;
    }
    this.lastSent = sent;
    if (pending === 0) res.write(this.frame.heartbeat);
  }

  stop(): void {
    if (this.heartbeatMs > 0) this.ctx.host.timers.leave(this.heartbeatMs, this);
    this.streams.delete(this);
  }
}

/** Each host's open streams (see {@link openStreams}). */
const streamsByHost = new WeakMap<RequestHost, Set<Pumped<unknown>>>();

/**
 * The streams open on `host`, which one shutdown hook per host tells to
 * finish: a hook per connection was a closure, its unregister closure and
 * their contexts (about 200 bytes each idle stream kept). Each stream is told
 * even if another one's final write throws; the first failure is then thrown
 * to the host (which logs it, as it logs a failing hook).
 */
function openStreams(host: RequestHost): Set<Pumped<unknown>> {
  let streams = streamsByHost.get(host);
  if (streams === undefined) {
    const open = new Set<Pumped<unknown>>();
    host.onShutdown(() => {
      let failure: { error: unknown } | undefined;
      for (const stream of [...open]) {
        try {
          stream.shutdown();
        } catch (error) {
          failure ??= { error };
        }
      }
      if (failure) throw failure.error;
    });
    streamsByHost.set(host, open);
    streams = open;
  }
  return streams;
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
