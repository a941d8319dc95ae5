import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { action, type Operation, race, resource, type Scope, useScope } from "effection";
import { type Clock, useClock } from "../core/clock.js";
import { Continuation } from "../core/continuation.js";
import { isHalted } from "../core/errors.js";
import { type LabelOptions, labelsWatched, watchedAs } from "../core/labels.js";
import { usePanel } from "../core/panels.js";
import { RoutineGroup, type RoutineReports } from "../core/routine-group.js";
import { createTimerSet, type TimerSet } from "../core/timer-set.js";
import { RequestContext, type RequestHost } from "./context.js";
import { HttpError, isClientGone } from "./errors.js";
import { type BodyReply, error, StreamReply, writeValue } from "./reply.js";

/**
 * A request handler: `function* (ctx) { … return reply }`. It may return a
 * reply (`json`, `text`, `html`, `error`, `sse`, `ndjson`, `longPoll`), any
 * other value (sent as JSON), or `undefined` (204, unless it wrote to
 * `ctx.response` itself).
 */
export type Handler = (ctx: RequestContext) => Operation<unknown>;

/**
 * Something that can serve requests and, optionally, WebSocket upgrades:
 * a router from `createRouter()`.
 */
export interface App {
  /** Handles one request (returns the handler's operation, not yet started). */
  handle(ctx: RequestContext): Operation<unknown>;
  /** Handles an HTTP upgrade; without it upgrades are refused. */
  upgrade?(request: IncomingMessage, socket: Duplex, head: Buffer, host: ServerHost): void;
  /**
   * Requests, streams and WebSockets in flight per route pattern
   * (`{ "GET /events": 3 }`), routes with none left out: what the inspector's
   * `http` panel shows as `routes`. A router counts a request once it
   * suspended, as {@link Server.active} does.
   */
  openRoutes?(): Record<string, number>;
}

/**
 * A route's count of requests in flight: held by the route, moved by the
 * server (one increment when a request suspends, one decrement when it ends).
 *
 * @internal
 * @example
 * ```ts
 * const route: OpenCount = { open: 0 };
 * if (ctx instanceof ServerRequestContext) ctx.route = route; // in an App's handle()
 * ```
 */
export interface OpenCount {
  open: number;
  /** The route as the router knows it (`"GET /jobs/:id"`): what names a request's node and span. */
  readonly name?: string;
}

/**
 * The context of a request that `useServer` (or `useRequestListener`) runs:
 * a {@link RequestContext} that can carry its route's {@link OpenCount}, set
 * by the router while it dispatches, so that the server counts the request
 * on its route without a lookup.
 *
 * @internal
 * @example
 * ```ts
 * handle(ctx) {
 *   if (ctx instanceof ServerRequestContext) ctx.route = route;
 *   return route.handler(ctx);
 * }
 * ```
 */
export class ServerRequestContext extends RequestContext {
  /** The matched route's count, if an App set one. */
  route: OpenCount | undefined = undefined;
}

/**
 * A logger for handler failures. A client that leaves (or is cut off by the
 * `close` backpressure policy) is not a failure: it goes to `debug`, if
 * given, never to `error` (see {@link isClientGone}).
 */
export interface ServerLogger {
  error(message: string, error: unknown): void;
  debug?(message: string, error: unknown): void;
}

/** Options of {@link useServer}. */
export interface ServerOptions {
  /** The port to listen on; `0` (the default) picks a free one. */
  port?: number;
  /** The address to listen on. Default `"127.0.0.1"`. */
  host?: string;
  /** A router from `createRouter()`, or a single handler for every request. */
  handler: App | Handler;
  /**
   * On shutdown, how long open requests and streams get to finish after they
   * were told to (final SSE event, WebSocket close 1001) before their sockets
   * are destroyed. Default 5000 ms.
   */
  shutdownGraceMs?: number;
  /** The largest request body `ctx.json()`/`ctx.body()` accept. Default 1 MiB. */
  maxBodyBytes?: number;
  /**
   * How long a client gets to send a request's headers, from its first byte;
   * a slower one (slowloris) gets 408 and its connection is closed. Default
   * 10000 ms. `useServer` only (a server you own keeps its own settings).
   */
  headersTimeoutMs?: number;
  /**
   * How long a client gets to send a whole request, headers and body; then
   * 408 and the connection is closed. A response that streams for longer
   * (SSE, NDJSON) is not affected: the clock stops when the request is in.
   * Default 30000 ms; at least `headersTimeoutMs`. `useServer` only.
   */
  requestTimeoutMs?: number;
  /**
   * How long an idle keep-alive connection stays open waiting for the next
   * request. Default 5000 ms. `useServer` only.
   */
  keepAliveTimeoutMs?: number;
  /**
   * Where handler failures are logged (message + error with stack). Default:
   * `console.error` for failures, nothing for clients that left.
   */
  logger?: ServerLogger;
}

/** A running server, as provided by {@link useServer}. */
export interface Server {
  /** The port it listens on. */
  readonly port: number;
  /** Its base URL, e.g. `http://127.0.0.1:38211`. */
  readonly url: string;
  /** Requests, streams and WebSockets in progress that suspended at least once. */
  readonly active: number;
}

/**
 * The server side of a request host, as seen by WebSocket adapters: it runs
 * tracked work, owns the shared timers and the shutdown hooks.
 */
export interface ServerHost extends RequestHost {
  /**
   * Runs `op` for `ctx` as tracked work of the server (counted until it ends;
   * halted on shutdown). Its failure, or a failure of anything it spawned, is
   * logged.
   */
  start(ctx: RequestContext, op: Operation<void>): void;
  /** Tracks a raw socket (an upgraded WebSocket) to destroy at the end of shutdown. */
  track(socket: Duplex): void;
  /** Logs a handler failure. */
  log(message: string, error: unknown): void;
}

function after(text: string, separator: string): string {
  const at = text.indexOf(separator);
  return at < 0 ? text : text.slice(at + separator.length);
}

const SHUTTING_DOWN = '{"error":"server is shutting down"}';

/** A handler's operation, then its stream if it returned one; the value is the reply. */
function* respond(ctx: RequestContext, handler: Operation<unknown>): Operation<unknown> {
  const value = yield* handler;
  if (!(value instanceof StreamReply)) return value;
  yield* value.run(ctx);
  return undefined;
}

/**
 * The server's state. Requests, streams and WebSockets run in one
 * {@link RoutineGroup} tagged with their context and whether their value is
 * the reply: inline until they suspend, then as light routines (a few µs and
 * no effection task) under the server's scope. A scope is created for one
 * only if it touches one (`spawn`, `resource`, contexts…), so a long-poll
 * waiting on `hub.next()` costs no task at all. Like a task, a routine
 * settles only after its scope is torn down, so the reply is written then: a
 * child that fails while the handler runs, or while its scope is torn down,
 * turns the reply into a 500 (a reset once a stream began), never silence.
 */
class Host implements ServerHost, RoutineReports<unknown, RequestContext, boolean> {
  closing = false;
  readonly maxBodyBytes: number;
  readonly timers: TimerSet;
  readonly app: App;
  private hooks = new Set<() => void>();
  private sockets = new Set<Duplex>();
  /** Requests, streams and WebSockets that suspended and have not finished. */
  private group: RoutineGroup<unknown, RequestContext, boolean>;
  private logger: ServerLogger;

  constructor(scope: Scope, clock: Clock, options: ServerOptions) {
    this.group = new RoutineGroup(scope, this);
    this.maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
    this.timers = createTimerSet(scope, clock);
    const handler = options.handler;
    this.app = typeof handler === "function" ? { handle: handler } : handler;
    this.logger = options.logger ?? {
      error: (message, error) => console.error(message, error),
    };
  }

  get active(): number {
    return this.group.size;
  }

  onShutdown(fn: () => void): () => void {
    this.hooks.add(fn);
    return () => {
      this.hooks.delete(fn);
    };
  }

  log(message: string, error: unknown): void {
    try {
      // a client that left is not a failure ("handler failed: GET /x" → "client left: GET /x")
      if (isClientGone(error)) this.logger.debug?.(`client left: ${after(message, ": ")}`, error);
      else this.logger.error(message, error);
    } catch {
      // a broken logger must not break the server
    }
  }

  track(socket: Duplex): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.closing) {
      res.writeHead(503, { "content-type": "application/json", connection: "close" });
      res.end(SHUTTING_DOWN);
      return;
    }
    const ctx = new ServerRequestContext(req, res, this);
    let iterator: Iterator<any, unknown, unknown>;
    let first: IteratorResult<any, unknown>;
    try {
      iterator = this.app.handle(ctx)[Symbol.iterator]();
      first = iterator.next();
    } catch (error) {
      this.fail(ctx, error);
      return;
    }
    if (first.done) {
      const value = first.value;
      if (value instanceof StreamReply) this.startRequest(ctx, value.run(ctx));
      else this.reply(ctx, value);
    } else {
      this.startRequest(ctx, respond(ctx, new Continuation(iterator, first.value)));
    }
  };

  onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.closing || this.app.upgrade === undefined) {
      const status = this.closing ? "503 Service Unavailable" : "404 Not Found";
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    this.app.upgrade(req, socket, head, this);
  };

  /** Writes a handler's value as the response; a value that cannot be written is a failure. */
  private reply(ctx: RequestContext, value: unknown): void {
    try {
      writeValue(ctx.response, value);
    } catch (error) {
      this.fail(ctx, error);
    }
  }

  // --- what the group reports: a request, stream or WebSocket has ended ---

  returned(ctx: RequestContext, replies: boolean, value: unknown): void {
    try {
      if (replies) this.reply(ctx, value);
    } finally {
      this.ended(ctx);
    }
  }

  /**
   * Answers the client (when `replies`) with the failure, and logs a failure
   * nobody else will see (a WebSocket's, or one while halting).
   */
  failed(ctx: RequestContext, replies: boolean, error: unknown, halted: boolean): void {
    try {
      if (halted) {
        if (!isHalted(error)) this.log(`cleanup failed: ${ctx.method} ${ctx.path}`, error);
      } else if (replies) {
        // even a halt error: the handler was not halted, so it failed (joined a halted task)
        this.fail(ctx, error);
      } else if (!isHalted(error)) {
        this.log(`request failed: ${ctx.method} ${ctx.path}`, error);
      }
    } finally {
      this.ended(ctx);
    }
  }

  halted(ctx: RequestContext): void {
    this.ended(ctx);
  }

  /** A request's work is over: its route has one fewer in flight. */
  private ended(ctx: RequestContext): void {
    const route = (ctx as ServerRequestContext).route;
    if (route !== undefined) route.open--;
    ctx.end();
  }

  private fail(ctx: RequestContext, failure: unknown): void {
    const res = ctx.response;
    let reply: BodyReply;
    if (failure instanceof HttpError) {
      const headers = ctx.closeConnection
        ? { ...failure.headers, connection: "close" }
        : failure.headers;
      reply = error(failure.message, failure.status, headers);
    } else {
      this.log(`handler failed: ${ctx.method} ${ctx.path}`, failure);
      reply = error("internal server error", 500);
    }
    if (res.headersSent) {
      // a stream already began: the status can no longer change, so cut it off
      res.destroy();
      return;
    }
    reply.writeTo(res);
  }

  /** Runs a request's remaining work (see {@link start}); the client's disconnect halts it. */
  private startRequest(ctx: ServerRequestContext, op: Operation<unknown>): void {
    const route = ctx.route;
    if (route !== undefined) route.open++;
    if (labelsWatched()) op = watchedAs(requestName(ctx, route), op, requestLabel(ctx, route));
    this.start(ctx, op, true);
    if (ctx.finished) return;
    // a client that left before the handler suspended gets no "close" event any more
    if (ctx.response.destroyed) ctx.halt();
    // on(), not once(): a response closes once, and once() wraps the listener in three
    // objects more that an idle stream would keep (halt() is a no-op after the first)
    else ctx.response.on("close", () => ctx.halt());
  }

  /**
   * Runs `op` for `ctx`: inline until it suspends, then as a light routine
   * under the server's scope, counted in `active` until it ends. With
   * `replies`, its value (or failure) is the response.
   */
  start(ctx: RequestContext, op: Operation<unknown>, replies = false): void {
    const member = this.group.start(ctx, replies, op);
    if (member) ctx.halter = member;
  }

  /**
   * The shutdown every host does: refuse new requests (503), tell open
   * streams to finish, wait up to `graceMs` for them, then destroy what is
   * left (responses still open and upgraded sockets).
   */
  *drain(graceMs: number, clock: Clock): Operation<void> {
    this.closing = true;
    for (const hook of [...this.hooks]) {
      try {
        hook();
      } catch (error) {
        this.log("shutdown hook failed", error);
      }
    }
    if (this.active > 0) {
      yield* race([this.group.whenEmpty(), clock.sleep(graceMs)]);
    }
    for (const socket of this.sockets) socket.destroy();
    this.group.forEach(({ key: ctx }) => {
      ctx.response.destroy();
      ctx.halt();
    });
    // requests run as light routines, outside effection's tree: wait for their finally blocks
    yield* this.group.whenEmpty();
  }
}

/**
 * Options of {@link useRequestListener}: those of {@link useServer} without
 * the address and the connection timeouts (the server is yours to configure).
 */
export type RequestListenerOptions = Omit<
  ServerOptions,
  "port" | "host" | "headersTimeoutMs" | "requestTimeoutMs" | "keepAliveTimeoutMs"
>;

/** node:http's timeout options from bough's, checked. */
function connectionTimeouts(options: ServerOptions) {
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const requestTimeout = options.requestTimeoutMs ?? Math.max(30_000, headersTimeout);
  const keepAliveTimeout = options.keepAliveTimeoutMs ?? 5_000;
  for (const [name, value] of Object.entries({
    headersTimeout,
    requestTimeout,
    keepAliveTimeout,
  })) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`useServer: ${name}Ms must be a number > 0, got ${value}`);
    }
  }
  if (headersTimeout > requestTimeout) {
    throw new RangeError(
      `useServer: headersTimeoutMs (${headersTimeout}) must not exceed requestTimeoutMs (${requestTimeout})`,
    );
  }
  // node checks for expired connections on an interval (30 s by default, which let a
  // slowloris client live ~90 s): check often enough that a timeout is late by a quarter at most
  const connectionsCheckingInterval = Math.max(10, Math.min(1000, Math.floor(headersTimeout / 4)));
  return { headersTimeout, requestTimeout, keepAliveTimeout, connectionsCheckingInterval };
}

/** Listeners to attach to a `node:http` server you own. See {@link useRequestListener}. */
export interface RequestListener {
  /** The `request` listener: `(req, res) => void`. */
  readonly request: (request: IncomingMessage, response: ServerResponse) => void;
  /** The `upgrade` listener (WebSocket routes). */
  readonly upgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Requests, streams and WebSockets in progress that suspended at least once. */
  readonly active: number;
}

function* useHost(options: RequestListenerOptions) {
  const scope = yield* useScope();
  const clock = yield* useClock();
  return { host: new Host(scope, clock, options), clock };
}

/**
 * Mounts bough handlers in a `node:http` server you already have: the
 * returned listeners run each request as a branch of the calling scope, with
 * the same guarantees as {@link useServer}. When the scope ends, new requests
 * get 503, open streams are told to finish and, after `shutdownGraceMs`, what
 * remains is destroyed; the server itself stays yours to close.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { main, suspend } from "effection";
 * import { createRouter, json, useRequestListener } from "bough/http";
 *
 * const legacy = createServer();
 * legacy.listen(3000);
 * await main(function* () {
 *   const router = createRouter().get("/api/time", function* () { return json(Date.now()); });
 *   const bough = yield* useRequestListener({ handler: router });
 *   legacy.on("request", (req, res) => {
 *     if (req.url?.startsWith("/api/")) bough.request(req, res);
 *     else res.end("legacy");
 *   });
 *   legacy.on("upgrade", bough.upgrade);
 *   yield* suspend();
 * });
 * ```
 */
export function useRequestListener(options: RequestListenerOptions): Operation<RequestListener> {
  return resource<RequestListener>(function* (provide) {
    const { host, clock } = yield* useHost(options);
    try {
      yield* provide({
        request: host.onRequest,
        upgrade: host.onUpgrade,
        get active() {
          return host.active;
        },
      });
    } finally {
      yield* host.drain(options.shutdownGraceMs ?? 5000, clock);
    }
  });
}

/**
 * Starts an HTTP server on `node:http` for the lifetime of the calling scope.
 * Every request runs as its own branch of the task tree: a handler that
 * throws gives that client a 500 (its stack is logged) and nothing else; a
 * client that disconnects halts its handler at once. A handler that returns
 * without suspending costs no task at all.
 *
 * When the scope ends the server shuts down: new requests get 503, open
 * streams get a final event (WebSockets a close 1001), then after
 * `shutdownGraceMs` whatever remains is destroyed.
 *
 * The inspector (`bough/inspect`) shows the server as an `http` panel named
 * for its URL: `open` (as {@link Server.active}) and `routes`, the requests,
 * streams and WebSockets in flight per route pattern of a router
 * (`{ "GET /events": 3 }`, see {@link App.openRoutes}).
 *
 * @example
 * ```ts
 * import { main, suspend } from "effection";
 * import { createRouter, json, useServer } from "bough/http";
 *
 * await main(function* () {
 *   const router = createRouter().get("/", function* () { return json({ hello: "world" }); });
 *   const server = yield* useServer({ port: 8080, handler: router });
 *   console.log(`listening on ${server.url}`);
 *   yield* suspend();
 * });
 * ```
 */
export function useServer(options: ServerOptions): Operation<Server> {
  return resource<Server>(function* (provide) {
    const timeouts = connectionTimeouts(options);
    const { host, clock } = yield* useHost(options);
    const server = createServer(timeouts, host.onRequest);
    server.keepAliveTimeout = timeouts.keepAliveTimeout;
    server.on("upgrade", host.onUpgrade);
    const address = options.host ?? "127.0.0.1";
    yield* action<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, address, () => {
        server.off("error", reject);
        resolve();
      });
      return () => {};
    });
    try {
      const bound = server.address();
      const port = typeof bound === "object" && bound !== null ? bound.port : (options.port ?? 0);
      const shown = address.includes(":") ? `[${address}]` : address;
      yield* usePanel("http", `http://${shown}:${port}`, () => ({
        open: host.active,
        routes: host.app.openRoutes?.() ?? {},
      }));
      yield* provide({
        port,
        url: `http://${shown}:${port}`,
        get active() {
          return host.active;
        },
      });
    } finally {
      // idle keep-alive connections would otherwise hold the grace period open
      server.closeIdleConnections();
      yield* host.drain(options.shutdownGraceMs ?? 5000, clock);
      server.closeAllConnections();
      yield* action<void>((resolve) => {
        server.close(() => resolve());
        return () => {};
      });
    }
  });
}

/**
 * A request's node (and span) is named for its route pattern when a router
 * matched one (`GET /jobs/:id`, not `GET /jobs/7`: one name per route, as
 * OpenTelemetry's HTTP conventions want), else for its path.
 */
function requestName(ctx: RequestContext, route: OpenCount | undefined): string {
  return route?.name ?? `${ctx.method} ${ctx.path}`;
}

/** The request node's kind and its OpenTelemetry HTTP attributes. */
function requestLabel(ctx: RequestContext, route: OpenCount | undefined): LabelOptions {
  const attributes: Record<string, string> = {
    "http.request.method": ctx.method,
    "url.path": ctx.path,
  };
  const name = route?.name;
  if (name !== undefined) attributes["http.route"] = name.slice(name.indexOf(" ") + 1);
  return { kind: "http request", attributes };
}
