import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { action, type Operation } from "effection";
import { SlowConsumerError, StreamClosedError } from "./errors.js";

/** What a stream does when a client falls more than `maxBufferedBytes` behind. */
export type BackpressurePolicy = "wait" | "drop" | "close";

/** Options of {@link createStreamWriter}, shared by `ndjson`, `sse` and WebSockets. */
export interface BackpressureOptions {
  /**
   * The per-connection cap: how many bytes (UTF-8 bytes for strings, not
   * characters) may sit unsent in user space (response + socket buffers) for
   * one client. Default 1 MiB. Write `Buffer`s to keep memory at the cap: a
   * string written to a socket may be held both as a string and as bytes.
   */
  maxBufferedBytes?: number;
  /**
   * What a write does when it would take the buffer over the cap: `"wait"`
   * (default) suspends the writer until the client has read enough; `"drop"`
   * skips the chunk (counted in `dropped`) and returns `false`; `"close"`
   * destroys the connection and throws {@link SlowConsumerError}.
   */
  policy?: BackpressurePolicy;
}

/** The default per-connection cap, 1 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * A backpressure-aware writer over one HTTP response. See {@link createStreamWriter}.
 */
export interface StreamWriter {
  /**
   * Writes `chunk`. Returns `true` once the chunk is handed to the socket,
   * `false` if the `"drop"` policy skipped it. Throws
   * {@link StreamClosedError} if the client is gone (a write to a
   * disconnected stream never reports success).
   */
  write(chunk: string | Uint8Array): Operation<boolean>;
  /**
   * The same as {@link write} without an operation, for hot loops: returns
   * `true`/`false` as `write` would, or `undefined` when the `"wait"` policy
   * must wait first (then call `write`). Throws as `write` does.
   */
  tryWrite(chunk: string | Uint8Array): boolean | undefined;
  /** Bytes written but not yet handed to the kernel. */
  readonly buffered: number;
  /** Chunks skipped by the `"drop"` policy. */
  readonly dropped: number;
  /** True once the connection is closed or the response has ended. */
  readonly closed: boolean;
  /** The response this writer writes to. */
  readonly response: ServerResponse;
}

/** Uncorks the socket corked for the writes of one turn. */
function uncork(writer: ResponseWriter) {
  const socket = writer.corked;
  writer.corked = undefined;
  socket?.uncork();
}

class ResponseWriter implements StreamWriter {
  dropped = 0;
  /** The socket corked for this turn's writes, uncorked on the next tick. */
  corked: Socket | undefined = undefined;
  readonly cap: number;
  readonly policy: BackpressurePolicy;

  constructor(
    readonly response: ServerResponse,
    options: BackpressureOptions,
  ) {
    this.cap = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.policy = options.policy ?? "wait";
  }

  get buffered(): number {
    return this.response.writableLength;
  }

  get closed(): boolean {
    const res = this.response;
    return res.destroyed || res.writableEnded || res.socket === null || res.socket.destroyed;
  }

  tryWrite(chunk: string | Uint8Array): boolean | undefined {
    if (this.closed) throw new StreamClosedError();
    const res = this.response;
    // bytes, not characters: a string is measured as the UTF-8 it becomes
    const size = typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength;
    if (res.writableLength + size > this.cap) {
      if (this.policy === "drop") {
        this.dropped++;
        return false;
      }
      if (this.policy === "close") {
        res.destroy();
        throw new SlowConsumerError(this.cap);
      }
      if (res.writableLength > 0 && res.writableNeedDrain) return undefined;
    }
    if (this.corked === undefined && res.socket !== null) {
      // Coalesce the writes of one turn (a burst of hub messages) into one syscall. The
      // socket is corked, not the response: a corked response on Node 22 buffers chunked
      // writes itself, reports "need drain" for them, and after uncork() never emits
      // 'drain' when the kernel takes the bytes at once (nodejs/node#60432, fixed in 24),
      // so a writer waiting for it would wait forever. Writes to a corked socket keep
      // 'drain' tied to the socket's own buffer, which always emits it once emptied.
      const socket = res.socket;
      this.corked = socket;
      socket.cork();
      process.nextTick(uncork, this);
    }
    res.write(chunk);
    return true;
  }

  *write(chunk: string | Uint8Array): Operation<boolean> {
    for (;;) {
      const written = this.tryWrite(chunk);
      if (written !== undefined) return written;
      yield* drained(this.response);
    }
  }
}

function drained(res: ServerResponse): Operation<void> {
  return action<void>((resolve) => {
    res.once("drain", resolve);
    res.once("close", resolve);
    return () => {
      res.off("drain", resolve);
      res.off("close", resolve);
    };
  });
}

/**
 * Wraps a response in a writer that honours backpressure: at most
 * `maxBufferedBytes` (default 1 MiB) wait in user space for a slow client,
 * and the chosen policy decides what happens beyond that. Used by `ndjson`,
 * `sse` and `longPoll`; use it yourself when you write a custom stream.
 *
 * @example
 * ```ts
 * router.get("/raw", function* (ctx) {
 *   ctx.response.writeHead(200, { "content-type": "text/plain" });
 *   const writer = createStreamWriter(ctx.response, { policy: "drop" });
 *   for (let i = 0; i < 10; i++) yield* writer.write(`line ${i}\n`);
 *   ctx.response.end();
 * });
 * ```
 */
export function createStreamWriter(
  response: ServerResponse,
  options: BackpressureOptions = {},
): StreamWriter {
  return new ResponseWriter(response, options);
}
