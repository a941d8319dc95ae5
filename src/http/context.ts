import type { IncomingMessage, ServerResponse } from "node:http";
import { action, type Operation } from "effection";
import type { TimerSet } from "../core/timer-set.js";
import { MalformedJsonError, PayloadTooLargeError, StreamClosedError } from "./errors.js";

/**
 * What a request context needs from the server that runs it. Implemented by
 * `useServer`; exposed so that other hosts (tests, adapters) can run handlers.
 */
export interface RequestHost {
  /** The largest request body `ctx.body()`/`ctx.json()` accept, in bytes. */
  readonly maxBodyBytes: number;
  /** Shared heartbeat and timeout timers. */
  readonly timers: TimerSet;
  /** True once the server has begun shutting down. */
  readonly closing: boolean;
  /** Registers `fn` to run when shutdown begins; returns an unregister function. */
  onShutdown(fn: () => void): () => void;
}

const EMPTY: Record<string, string | undefined> = Object.freeze({}) as Record<string, never>;

/**
 * The `ctx` every handler receives: the request, its route parameters and
 * query, a bounded body reader, and the connection's lifetime as an
 * `AbortSignal`.
 *
 * @example
 * ```ts
 * router.post("/rooms/:room/messages", function* (ctx) {
 *   const body = yield* ctx.json<{ text: string }>();
 *   return json({ room: ctx.params.room, text: body.text, page: ctx.query.page });
 * });
 * ```
 */
export class RequestContext {
  /** Route parameters (`/jobs/:id` → `ctx.params.id`). */
  params: Record<string, string | undefined> = EMPTY;
  /**
   * @internal what halts the request's work, once it has suspended: its
   * routine itself (no closure per request).
   */
  halter: { interrupt(): void } | undefined = undefined;
  /** @internal true once the request's work has finished. */
  finished = false;
  /** @internal set when the response must close the connection (413). */
  closeConnection = false;
  private parsedQuery: Record<string, string> | undefined = undefined;
  private parsedUrl: URL | undefined = undefined;
  private abort: AbortController | undefined = undefined;
  private bodyBytes: Buffer | undefined = undefined;

  constructor(
    /** The node:http request. */
    readonly request: IncomingMessage,
    /** The node:http response, for handlers that write themselves. */
    readonly response: ServerResponse,
    /** @internal the server running this request. */
    readonly host: RequestHost,
  ) {}

  /** The request method (`GET`, `POST`, …). */
  get method(): string {
    return this.request.method ?? "GET";
  }

  /** The path without the query string. */
  get path(): string {
    const raw = this.request.url ?? "/";
    const q = raw.indexOf("?");
    return q < 0 ? raw : raw.slice(0, q);
  }

  /** The query string as an object (`?page=2` → `{ page: "2" }`). */
  get query(): Record<string, string> {
    if (this.parsedQuery === undefined) {
      const raw = this.request.url ?? "/";
      const q = raw.indexOf("?");
      this.parsedQuery =
        q < 0 ? {} : Object.fromEntries(new URLSearchParams(raw.slice(q + 1)).entries());
    }
    return this.parsedQuery;
  }
  set query(value: Record<string, string>) {
    this.parsedQuery = value;
  }

  /** The full request URL. */
  get url(): URL {
    if (this.parsedUrl === undefined) {
      const host = this.request.headers.host ?? "localhost";
      this.parsedUrl = new URL(this.request.url ?? "/", `http://${host}`);
    }
    return this.parsedUrl;
  }

  /**
   * The `Last-Event-ID` header an `EventSource` sends when it reconnects, or
   * `undefined`. Pass it to a hub as the cursor: `hub.subscribe({ after: ctx.lastEventId })`.
   */
  get lastEventId(): string | undefined {
    const value = this.request.headers["last-event-id"];
    return typeof value === "string" && value !== "" ? value : undefined;
  }

  /** True once the client has gone or the response has ended. */
  get disconnected(): boolean {
    const res = this.response;
    return res.destroyed || res.writableEnded || res.socket === null || res.socket.destroyed;
  }

  /**
   * An `AbortSignal` that aborts when the request ends (client gone, handler
   * finished or halted): pass it to promise APIs such as `fetch`.
   */
  get signal(): AbortSignal {
    if (this.abort === undefined) {
      this.abort = new AbortController();
      if (this.finished) this.abort.abort();
    }
    return this.abort.signal;
  }

  /**
   * Reads the whole body, at most `maxBodyBytes` of it. A larger body (by
   * `Content-Length`, or as it arrives) throws {@link PayloadTooLargeError}
   * at once, without reading the rest; the client gets 413.
   */
  body(): Operation<Buffer> {
    const limit = this.host.maxBodyBytes;
    const declared = Number(this.request.headers["content-length"]);
    const self = this;
    return {
      *[Symbol.iterator]() {
        if (self.bodyBytes !== undefined) return self.bodyBytes;
        if (declared > limit) {
          self.closeConnection = true;
          throw new PayloadTooLargeError(limit);
        }
        self.bodyBytes = yield* readBody(self, limit);
        return self.bodyBytes;
      },
    };
  }

  /** Reads the body as UTF-8 text (bounded like {@link body}). */
  *text(): Operation<string> {
    return (yield* this.body()).toString("utf8");
  }

  /**
   * Reads and parses a JSON body (bounded like {@link body}). Malformed JSON
   * throws {@link MalformedJsonError}: the client gets 400 naming the problem.
   */
  *json<T = unknown>(): Operation<T> {
    const raw = yield* this.text();
    try {
      return JSON.parse(raw) as T;
    } catch (error) {
      throw new MalformedJsonError(raw === "" ? "empty body" : (error as Error).message);
    }
  }

  /** @internal halts the request's work (used by disconnects, timeouts and shutdown). */
  halt(): void {
    const halter = this.halter;
    if (halter === undefined || this.finished) return;
    this.abort?.abort();
    halter.interrupt();
  }

  /** @internal called once when the request's work is over. */
  end(): void {
    this.finished = true;
    this.abort?.abort();
  }
}

function readBody(ctx: RequestContext, limit: number): Operation<Buffer> {
  const req = ctx.request;
  return action<Buffer>((resolve, reject) => {
    if (req.readableEnded) {
      reject(new StreamClosedError("the request body was already consumed"));
      return () => {};
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        ctx.closeConnection = true;
        reject(new PayloadTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onClose = () => {
      cleanup();
      reject(new StreamClosedError("the client closed the connection before sending the body"));
    };
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
    return cleanup;
  });
}
