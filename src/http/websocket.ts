import { type IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Operation, Stream, Subscription } from "effection";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import { createWakeCell } from "../core/wake-cell.js";
import { RequestContext } from "./context.js";
import { SlowConsumerError, StreamClosedError } from "./errors.js";
import type { ServerHost } from "./server.js";
import { type BackpressurePolicy, DEFAULT_MAX_BUFFERED_BYTES } from "./writer.js";

/** Options of `router.ws(path, handler, options)`. */
export interface WebSocketOptions {
  /** The largest message accepted; bigger ones close the socket with 1009. Default 1 MiB. */
  maxPayloadBytes?: number;
  /**
   * How often the server pings; a socket that has not answered the previous
   * ping by the next one is terminated. Default 30000 ms; `0` turns it off.
   */
  pingIntervalMs?: number;
  /** The per-connection cap on unsent outgoing bytes (`bufferedAmount`). Default 1 MiB. */
  maxBufferedBytes?: number;
  /** What `send` does beyond the cap: `"wait"` (default), `"drop"` or `"close"`. */
  policy?: BackpressurePolicy;
  /**
   * How many received messages may wait unread before the socket stops
   * reading from the network (TCP backpressure to the client). Default 256.
   */
  maxQueuedMessages?: number;
}

/** A message received on a WebSocket: text frames as strings, binary frames as Buffers. */
export type WebSocketMessage = string | Buffer;

/** One open WebSocket, as given to a `router.ws` handler. */
export interface WebSocketConnection {
  /**
   * The messages the client sends, in order, ending when the socket closes.
   * Messages are buffered from the moment the socket opens; read them from one
   * place only.
   */
  readonly messages: Stream<WebSocketMessage, void>;
  /**
   * Sends a message, honouring the per-connection cap. Returns `false` if the
   * `"drop"` policy skipped it; throws `StreamClosedError` if the socket is closed.
   */
  send(data: string | Uint8Array): Operation<boolean>;
  /** Starts the closing handshake (default code 1000). */
  close(code?: number, reason?: string): void;
  /** Bytes queued but not yet sent. */
  readonly bufferedAmount: number;
  /** Messages skipped by the `"drop"` policy. */
  readonly dropped: number;
  /** The underlying `ws` socket. */
  readonly raw: WebSocket;
}

/**
 * A WebSocket handler: runs for the lifetime of the socket. Returning closes
 * the socket with 1000; throwing closes only this socket with 1011 (and logs
 * the error); the client closing halts the handler.
 */
export type WebSocketHandler = (
  socket: WebSocketConnection,
  ctx: RequestContext,
) => Operation<void>;

class Connection implements WebSocketConnection, Subscription<WebSocketMessage, void> {
  dropped = 0;
  alive = true;
  private inbox: WebSocketMessage[] = [];
  /** Signalled when a message arrives or the socket closes (the reader waits on it). */
  private arrived = createWakeCell();
  private ended = false;
  private paused = false;
  /** Signalled when a send was flushed or the socket closes (a sender over its cap waits on it). */
  private flushed = createWakeCell();
  private readonly cap: number;
  private readonly policy: BackpressurePolicy;
  private readonly maxQueued: number;

  constructor(
    readonly raw: WebSocket,
    options: WebSocketOptions,
  ) {
    this.cap = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.policy = options.policy ?? "wait";
    this.maxQueued = options.maxQueuedMessages ?? 256;
    raw.on("message", (data: RawData, isBinary: boolean) => {
      const message = isBinary ? toBuffer(data) : toBuffer(data).toString("utf8");
      this.inbox.push(message);
      this.arrived.signal();
      if (this.inbox.length >= this.maxQueued && !this.paused) {
        this.paused = true;
        raw.pause();
      }
    });
    raw.on("pong", () => {
      this.alive = true;
    });
    raw.on("close", () => {
      this.ended = true;
      this.arrived.signal();
      this.flushed.signal();
    });
  }

  get messages(): Stream<WebSocketMessage, void> {
    const self = this;
    return {
      *[Symbol.iterator]() {
        return self as Subscription<WebSocketMessage, void>;
      },
    };
  }

  *next(): Operation<IteratorResult<WebSocketMessage, void>> {
    while (this.inbox.length === 0 && !this.ended) yield* this.arrived.wait();
    if (this.inbox.length === 0) return { done: true, value: undefined };
    const value = this.inbox.shift() as WebSocketMessage;
    if (this.paused && this.inbox.length < this.maxQueued / 2) {
      this.paused = false;
      this.raw.resume();
    }
    return { done: false, value };
  }

  get bufferedAmount(): number {
    return this.raw.bufferedAmount;
  }

  get open(): boolean {
    return this.raw.readyState === this.raw.OPEN;
  }

  private sent = () => {
    this.flushed.signal();
  };

  *send(data: string | Uint8Array): Operation<boolean> {
    if (!this.open) throw new StreamClosedError("the WebSocket is closed");
    // bytes, as ws's bufferedAmount counts them (a string goes out as its UTF-8)
    const size = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
    if (this.raw.bufferedAmount + size > this.cap) {
      if (this.policy === "drop") {
        this.dropped++;
        return false;
      }
      if (this.policy === "close") {
        this.raw.terminate();
        throw new SlowConsumerError(this.cap);
      }
      while (this.raw.bufferedAmount > 0 && this.raw.bufferedAmount + size > this.cap) {
        yield* this.flushed.wait();
        if (!this.open) throw new StreamClosedError("the WebSocket is closed");
      }
    }
    this.raw.send(data, this.sent);
    return true;
  }

  close(code = 1000, reason?: string): void {
    if (this.raw.readyState === this.raw.OPEN || this.raw.readyState === this.raw.CONNECTING) {
      this.raw.close(code, reason);
    }
  }

  /** One keepalive tick: terminate if the last ping went unanswered, else ping. */
  beat = () => {
    if (!this.open) return;
    if (!this.alive) {
      this.raw.terminate();
      return;
    }
    this.alive = false;
    this.raw.ping();
  };
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

const servers = new WeakMap<WebSocketOptions, WebSocketServer>();

/**
 * @internal Completes a WebSocket upgrade and runs `handler` for the socket as
 * tracked work of the server.
 */
export function acceptWebSocket(
  host: ServerHost,
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  params: Record<string, string | undefined>,
  handler: WebSocketHandler,
  options: WebSocketOptions,
): void {
  let wss = servers.get(options);
  if (wss === undefined) {
    wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: options.maxPayloadBytes ?? 1024 * 1024,
    });
    servers.set(options, wss);
  }
  host.track(socket);
  wss.handleUpgrade(request, socket, head, (ws) => {
    const ctx = new RequestContext(request, new ServerResponse(request), host);
    ctx.params = params;
    const connection = new Connection(ws, options);
    // ws reports malformed frames here and closes the socket itself (1002/1007/1009)
    ws.on("error", () => {});
    host.start(ctx, serve(host, ctx, connection, handler, options.pingIntervalMs ?? 30_000));
    ws.once("close", () => ctx.halt());
  });
}

function* serve(
  host: ServerHost,
  ctx: RequestContext,
  connection: Connection,
  handler: WebSocketHandler,
  pingIntervalMs: number,
): Operation<void> {
  const stopShutdown = host.onShutdown(() => connection.close(1001, "server shutting down"));
  const stopPing =
    pingIntervalMs > 0 ? host.timers.every(pingIntervalMs, connection.beat) : undefined;
  try {
    yield* handler(connection, ctx);
    connection.close(1000);
  } catch (error) {
    host.log(`WebSocket handler failed: ${ctx.path}`, error);
    connection.close(1011, "internal error");
  } finally {
    stopShutdown();
    stopPing?.();
    connection.close(host.closing ? 1001 : 1000);
  }
}
