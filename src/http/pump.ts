import { action, type Operation, type Stream } from "effection";
import { withLease } from "../core/lease.js";
import type { RequestContext } from "./context.js";
import { Resumed } from "./resumed.js";
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
  /** The heartbeat chunk (an SSE comment, an empty NDJSON line). */
  heartbeat: string;
  /** Written just before the response ends on shutdown, if any. */
  final: string | undefined;
}

/**
 * @internal Copies `stream` to the response through a backpressure-aware
 * writer, with heartbeats, reaping and a final chunk on shutdown. Returns when
 * the stream ends (the response is then ended); is halted when the client
 * leaves.
 */
export function* pump<T>(
  ctx: RequestContext,
  stream: Stream<T, unknown>,
  format: (item: T) => string,
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
    // withLease: a hub subscription is opened without a resource task; this try/finally
    // (and the request's own lifetime) bounds it instead.
    yield* withLease(stream, function* (subscription) {
      for (;;) {
        const peek = subscription.next()[Symbol.iterator]();
        const first = peek.next();
        let next: IteratorResult<T, unknown>;
        if (first.done) {
          next = first.value;
        } else {
          next = yield* new Resumed(peek, first);
          // Woken by the source: let it finish its burst before draining, so a
          // broadcast of many messages costs one wake-up per connection, not one
          // per message (and one write syscall, see the writer's cork).
          yield* afterMicrotask();
        }
        if (next.done) break;
        const chunk = format(next.value);
        if (writer.tryWrite(chunk) === undefined) yield* writer.write(chunk);
      }
    });
    if (!res.writableEnded) res.end();
  } finally {
    stopBeat?.();
    stopShutdown();
  }
}

/** A heartbeat tick for one connection: reap it if it is stuck, else send a beat if idle. */
function heartbeat(ctx: RequestContext, writer: StreamWriter, beat: string, missed: number) {
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
 * @internal Formatted chunks by item, shared by every connection of a kind
 * (SSE, NDJSON): a broadcast hands the same message object to many
 * connections, so each message is formatted once, not once per connection.
 * An entry only counts for the same formatter functions (`a`, `b`, `c`). The
 * cache is dropped at the end of each turn, so an item mutated and sent again
 * later is never served stale.
 */
export class FormatCache {
  private entries = new WeakMap<object, { a: unknown; b: unknown; c: unknown; chunk: string }>();
  private clearing = false;

  get(item: unknown, a: unknown, b: unknown, c: unknown): string | undefined {
    if (typeof item !== "object" || item === null) return undefined;
    const entry = this.entries.get(item);
    return entry !== undefined && entry.a === a && entry.b === b && entry.c === c
      ? entry.chunk
      : undefined;
  }

  set(item: unknown, a: unknown, b: unknown, c: unknown, chunk: string): void {
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
