import type { Operation, Stream } from "effection";
import type { RequestContext } from "./context.js";
import { FormatCache, type PumpFrame, pump, type StreamOptions } from "./pump.js";
import { StreamReply } from "./reply.js";

/** Options of {@link ndjson}. */
export interface NdjsonOptions<T> extends StreamOptions {
  /** Turns an item into the line's value. Default: the item itself. */
  map?: (item: T) => unknown;
  /** The heartbeat line. Default `"\n"` (an empty line, which NDJSON readers skip). */
  heartbeat?: string;
}

const cache = new FormatCache();
const NEWLINE = Buffer.from("\n");

/** The reply is its own pump frame: a connection keeps no frame object or closures. */
class NdjsonReply<T> extends StreamReply implements PumpFrame<T> {
  readonly heartbeat: Buffer;

  constructor(
    private stream: Stream<T, unknown>,
    private options: NdjsonOptions<T>,
  ) {
    super();
    const beat = options.heartbeat;
    this.heartbeat = beat === undefined ? NEWLINE : Buffer.from(beat);
  }

  run(ctx: RequestContext): Operation<void> {
    return pump(ctx, this.stream, this, this.options);
  }

  head(ctx: RequestContext): void {
    const res = ctx.response;
    res.writeHead(200, {
      "content-type": "application/x-ndjson",
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
    });
    res.flushHeaders();
  }

  get final(): undefined {
    return undefined;
  }

  format(item: T): Buffer {
    const map = this.options.map;
    const cached = cache.get(item, map, undefined, undefined);
    if (cached !== undefined) return cached;
    const line = Buffer.from(`${JSON.stringify(map ? map(item) : item)}\n`);
    cache.set(item, map, undefined, undefined, line);
    return line;
  }
}

/**
 * A newline-delimited JSON reply: one line per item of `stream`, until the
 * stream ends or the client leaves (which halts the handler). Heartbeats
 * (empty lines), reaping of stuck connections and the per-connection cap (in
 * bytes) work as for {@link sse}. The stream is opened before any header is
 * sent: a malformed cursor gets 400, an expired one 410.
 *
 * @example
 * ```ts
 * router.get("/stream", function* () {
 *   return ndjson(hub.subscribe(), { map: (message) => ({ tick: message.value }) });
 * });
 * // curl -N localhost:5014/stream → {"tick":3}\n{"tick":4}\n…
 * ```
 */
export function ndjson<T>(
  stream: Stream<T, unknown>,
  options: NdjsonOptions<T> = NO_OPTIONS,
): StreamReply {
  return new NdjsonReply(stream, options);
}

/** The options of an `ndjson()` call without any: shared, since every connection keeps its reply's. */
const NO_OPTIONS: NdjsonOptions<any> = Object.freeze({});
