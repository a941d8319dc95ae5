import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Operation } from "effection";
import type { RequestContext } from "./context.js";

/**
 * A complete response: status, headers and a body written in one go. Made by
 * {@link json}, {@link text}, {@link html} and {@link error}; the server writes
 * it at once, with no routine, when the handler returned it without suspending.
 */
export class BodyReply {
  constructor(
    /** The HTTP status. */
    readonly status: number,
    /** The response headers. */
    readonly headers: OutgoingHttpHeaders,
    /** The body, or `undefined` for none. */
    readonly body: string | Uint8Array | undefined,
  ) {}

  /**
   * The headers as written, with the body's `Content-Length`: computed on the
   * first write, so that a reply written to many responses (a long-poll
   * answer shared by every waiter of one message) measures its body once.
   */
  private sent: OutgoingHttpHeaders | undefined = undefined;

  /**
   * Writes this reply to `res` with its `Content-Length` and ends it (a no-op
   * if `res` has already ended).
   */
  writeTo(res: ServerResponse): void {
    if (res.headersSent) {
      if (!res.writableEnded) res.end();
      return;
    }
    res.writeHead(this.status, (this.sent ??= this.sentHeaders()));
    res.end(this.body);
  }

  private sentHeaders(): OutgoingHttpHeaders {
    const body = this.body;
    if (body === undefined || this.headers["content-length"] !== undefined) return this.headers;
    // a length, not chunks: and a HEAD request (which gets no body) still learns it
    const length = typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
    return { ...this.headers, "content-length": length };
  }
}

/**
 * A reply that keeps the connection open and writes over time (`sse`,
 * `ndjson`, `longPoll`). Its `run` operation is the rest of the request's work:
 * it is halted when the client disconnects and told to finish on shutdown.
 * Extend it to build your own streaming reply.
 */
export abstract class StreamReply {
  /** Writes the response over time; runs as the rest of the request. */
  abstract run(ctx: RequestContext): Operation<void>;
}

/** What a handler may return: a reply, `undefined` (204, unless it wrote itself), or any JSON value. */
export type Reply = BodyReply | StreamReply;

const JSON_TYPE = "application/json; charset=utf-8";

/**
 * A JSON reply: `JSON.stringify(value)` with `content-type: application/json`.
 *
 * @example
 * ```ts
 * router.get("/", function* () { return json({ count: 1 }); });
 * router.post("/jobs", function* (ctx) { return json(createJob(yield* ctx.json()), 201); });
 * ```
 */
export function json(value: unknown, status = 200, headers?: OutgoingHttpHeaders): BodyReply {
  return new BodyReply(
    status,
    headers ? { "content-type": JSON_TYPE, ...headers } : JSON_HEADERS,
    JSON.stringify(value),
  );
}
const JSON_HEADERS: OutgoingHttpHeaders = { "content-type": JSON_TYPE };

/**
 * A plain-text reply (`text/plain; charset=utf-8`).
 *
 * @example
 * ```ts
 * router.get("/health", function* () { return text("ok"); });
 * ```
 */
export function text(body: string, status = 200, headers?: OutgoingHttpHeaders): BodyReply {
  return new BodyReply(status, { "content-type": "text/plain; charset=utf-8", ...headers }, body);
}

/**
 * An HTML reply (`text/html; charset=utf-8`).
 *
 * @example
 * ```ts
 * router.get("/", function* () { return html("<h1>bough</h1>"); });
 * ```
 */
export function html(body: string, status = 200, headers?: OutgoingHttpHeaders): BodyReply {
  return new BodyReply(status, { "content-type": "text/html; charset=utf-8", ...headers }, body);
}

/**
 * An error reply: `status` (500 unless given) with the JSON body
 * `{ "error": message }`. Its arguments are in the order of {@link json}'s:
 * the body first, then the status.
 *
 * @example
 * ```ts
 * router.get("/jobs/:id", function* (ctx) {
 *   const job = jobs.get(ctx.params.id!);
 *   return job ? json(job) : error(`no job ${ctx.params.id}`, 404);
 * });
 * ```
 */
export function error(message: string, status = 500, headers?: OutgoingHttpHeaders): BodyReply {
  return json({ error: message }, status, headers);
}

/** The reply for a handler that returned `undefined` without writing: 204 No Content. */
export const NO_CONTENT = new BodyReply(204, {}, undefined);

/**
 * Writes a handler's result that is not a {@link StreamReply}: a
 * {@link BodyReply} as is, `undefined` as 204 (or just ends a response the
 * handler wrote itself), anything else as JSON.
 *
 * @example
 * ```ts
 * writeValue(res, { ok: true }); // 200 {"ok":true}
 * ```
 */
export function writeValue(res: ServerResponse, value: unknown): void {
  if (value instanceof BodyReply) value.writeTo(res);
  else if (value === undefined) {
    if (!res.headersSent) NO_CONTENT.writeTo(res);
    else if (!res.writableEnded) res.end();
  } else json(value).writeTo(res);
}
