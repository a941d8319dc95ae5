import { BoughError } from "../core/errors.js";

/**
 * An error that carries an HTTP status. Throw it from a handler (or let
 * `ctx.json()` throw it) and the client gets that status with a JSON body
 * `{ "error": message }`; no stack is logged, because it is the client's
 * mistake, not the server's.
 *
 * @example
 * ```ts
 * router.get("/users/:id", function* (ctx) {
 *   const user = users.get(ctx.params.id!);
 *   if (!user) throw new HttpError(404, `no user ${ctx.params.id}`);
 *   return json(user);
 * });
 * ```
 */
export class HttpError extends BoughError {
  override readonly name: string = "HttpError";
  /** The HTTP status sent to the client. */
  readonly status: number;
  /** Extra response headers (for example `Allow` on a 405). */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    options: { code?: string; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(options.code ?? "BOUGH_HTTP_ERROR", message, { cause: options.cause });
    this.status = status;
    this.headers = options.headers ?? {};
  }
}

/**
 * Thrown by `ctx.json()` / `ctx.text()` / `ctx.body()` when the request body is
 * larger than `maxBodyBytes`. The server answers 413 without reading the rest of
 * the body and closes the connection.
 *
 * @example
 * ```ts
 * try { yield* ctx.json(); } catch (e) { if (e instanceof PayloadTooLargeError) console.log(e.limit); throw e; }
 * ```
 */
export class PayloadTooLargeError extends HttpError {
  override readonly name = "PayloadTooLargeError";
  /** The limit in bytes that was exceeded. */
  readonly limit: number;

  constructor(limit: number) {
    super(413, `request body is larger than ${limit} bytes`, {
      code: "BOUGH_HTTP_PAYLOAD_TOO_LARGE",
    });
    this.limit = limit;
  }
}

/**
 * Thrown by `ctx.json()` when the body is not valid JSON; the client gets 400
 * with the parser's message (which names the problem and its position).
 *
 * @example
 * ```ts
 * // curl -d '{"a":' → 400 {"error":"malformed JSON body: Unexpected end of JSON input"}
 * const body = yield* ctx.json();
 * ```
 */
export class MalformedJsonError extends HttpError {
  override readonly name = "MalformedJsonError";

  constructor(detail: string) {
    super(400, `malformed JSON body: ${detail}`, { code: "BOUGH_HTTP_MALFORMED_JSON" });
  }
}

/**
 * Thrown by a stream write (`StreamWriter.write`, a WebSocket `send`) when the
 * connection is already gone: a write to a disconnected client never reports
 * success.
 *
 * @example
 * ```ts
 * try { yield* writer.write("data: x\n\n"); }
 * catch (e) { if (e instanceof StreamClosedError) console.log("client left"); }
 * ```
 */
export class StreamClosedError extends BoughError {
  override readonly name = "StreamClosedError";

  constructor(message = "the client connection is closed") {
    super("BOUGH_HTTP_STREAM_CLOSED", message);
  }
}

/**
 * Thrown by a stream write under the `"close"` backpressure policy when the
 * client has fallen more than the per-connection cap behind; the connection is
 * destroyed.
 *
 * @example
 * ```ts
 * sse(feed, { maxBufferedBytes: 256 * 1024, policy: "close" });
 * ```
 */
export class SlowConsumerError extends BoughError {
  override readonly name = "SlowConsumerError";
  /** The cap in bytes the client fell behind by. */
  readonly limit: number;

  constructor(limit: number) {
    super("BOUGH_HTTP_SLOW_CONSUMER", `client fell more than ${limit} bytes behind`);
    this.limit = limit;
  }
}

const GONE_CODES = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_PREMATURE_CLOSE",
  "ERR_STREAM_WRITE_AFTER_END",
]);

/**
 * True for the errors that mean the client is gone rather than that the
 * handler failed: {@link StreamClosedError}, {@link SlowConsumerError} (the
 * `close` policy cut it off) and the socket errors of a peer that left
 * (`ECONNRESET`, `EPIPE`, …). The server logs these at debug level only.
 *
 * @example
 * ```ts
 * try { yield* writer.write(chunk); }
 * catch (e) { if (!isClientGone(e)) throw e; }
 * ```
 */
export function isClientGone(error: unknown): boolean {
  if (error instanceof StreamClosedError || error instanceof SlowConsumerError) return true;
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : 0;
  return typeof code === "string" && GONE_CODES.has(code);
}
