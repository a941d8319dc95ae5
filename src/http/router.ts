import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Operation } from "effection";
import FindMyWay from "find-my-way";
import type { RequestContext } from "./context.js";
import { error } from "./reply.js";
import {
  type App,
  type Handler,
  type OpenCount,
  type ServerHost,
  ServerRequestContext,
} from "./server.js";
import { type StaticOptions, serveStatic } from "./static.js";
import { acceptWebSocket, type WebSocketHandler, type WebSocketOptions } from "./websocket.js";

/** An HTTP method a route can match ({@link Router.on}). */
export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS";

/** A router: a table of routes to handlers, usable as `useServer({ handler: router })`. */
export interface Router extends App {
  /** Routes `GET path` (and `HEAD path`: same headers, no body) to `handler`. */
  get(path: string, handler: Handler): Router;
  /** Routes `POST path` to `handler`. */
  post(path: string, handler: Handler): Router;
  /** Routes `PUT path` to `handler`. */
  put(path: string, handler: Handler): Router;
  /** Routes `DELETE path` to `handler`. */
  delete(path: string, handler: Handler): Router;
  /** Routes `PATCH path` to `handler`. */
  patch(path: string, handler: Handler): Router;
  /** Routes `method path` to `handler`. */
  on(method: HttpMethod, path: string, handler: Handler): Router;
  /** Routes WebSocket upgrades on `path` to `handler`. */
  ws(path: string, handler: WebSocketHandler, options?: WebSocketOptions): Router;
  /** Serves the files under `dir` at `prefix` (GET and HEAD). */
  static(prefix: string, dir: string, options?: StaticOptions): Router;
}

/** A ready-made operation that returns a reply without suspending (no task, no generator). */
class Constant<T> implements Operation<T> {
  constructor(private value: T) {}
  [Symbol.iterator](): Iterator<never, T, unknown> {
    return { next: () => ({ done: true, value: this.value }) };
  }
}

const NOT_FOUND = new Constant(error("not found", 404));
const BAD_URL = new Constant(error("malformed URL", 400));

/** A route: its handler, and its requests in flight (moved by the server, see `OpenCount`). */
interface Route extends OpenCount {
  /** `"GET /jobs/:id"`: the method and the pattern, as the inspector shows them. */
  readonly name: string;
  readonly handler: Handler;
}

interface WsRoute extends OpenCount {
  readonly name: string;
  /** The route's handler, counting its connection in `open` while it runs. */
  readonly handler: WebSocketHandler;
  readonly options: WebSocketOptions;
}

/**
 * Creates a router on find-my-way. Unknown paths get 404; a known path with
 * the wrong method gets 405 with an `Allow` header. Every `GET` route also
 * answers `HEAD` (same status and headers, no body) unless `HEAD` has a route
 * of its own.
 *
 * Each route counts its requests, streams and WebSockets in flight (one
 * increment and one decrement per request that suspends, on the route
 * itself); a server's inspector panel shows them as `routes`
 * (`{ "GET /events": 3, "WS /ws/queue": 1 }`). A `HEAD` answered by a `GET`
 * route counts on the `GET` route.
 *
 * @example
 * ```ts
 * const router = createRouter()
 *   .get("/jobs/:id", function* (ctx) { return json(jobs.get(ctx.params.id!)); })
 *   .post("/jobs", function* (ctx) { return json(addJob(yield* ctx.json()), 201); })
 *   .ws("/ws/queue", function* (socket) { yield* socket.send("hello"); })
 *   .static("/", "./public");
 * yield* useServer({ port: 5001, handler: router });
 * ```
 */
export function createRouter(): Router {
  // a malformed URL (bad percent-encoding) finds a result whose store is null
  const fmw = FindMyWay({ ignoreTrailingSlash: true, onBadUrl: () => {} });
  const sockets = FindMyWay({ ignoreTrailingSlash: true });
  const methods = new Set<HttpMethod>();
  const routes: (Route | WsRoute)[] = [];

  function add(method: HttpMethod, path: string, handler: Handler) {
    methods.add(method);
    const route: Route = { name: `${method} ${path}`, handler, open: 0 };
    routes.push(route);
    fmw.on(method, path, () => {}, route);
  }

  function miss(ctx: RequestContext): Operation<unknown> {
    const path = ctx.path;
    const allow: string[] = [];
    for (const method of methods) {
      if (fmw.find(method, path) !== null) allow.push(method);
    }
    if (allow.includes("GET") && !allow.includes("HEAD")) allow.push("HEAD");
    if (allow.length === 0) return NOT_FOUND;
    return new Constant(
      error(`method ${ctx.method} not allowed; use ${allow.join(", ")}`, 405, {
        allow: allow.join(", "),
      }),
    );
  }

  const router: Router = {
    handle(ctx) {
      const method = (ctx.request.method ?? "GET") as HttpMethod;
      const url = ctx.request.url ?? "/";
      // HEAD runs the GET route; node:http sends its status and headers, never a body
      const found = fmw.find(method, url) ?? (method === "HEAD" ? fmw.find("GET", url) : null);
      if (found === null) return miss(ctx);
      if (found.store === null) return BAD_URL;
      ctx.params = found.params;
      // without a query string, ctx.query stays lazy (an idle stream keeps no empty object)
      if (url.indexOf("?") >= 0) ctx.query = found.searchParams;
      const route = found.store as Route;
      // the server counts the request on its route once it suspends
      if (ctx instanceof ServerRequestContext) ctx.route = route;
      return route.handler(ctx);
    },
    openRoutes() {
      const open: Record<string, number> = {};
      for (const route of routes) if (route.open > 0) open[route.name] = route.open;
      return open;
    },
    upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, host: ServerHost) {
      const found = sockets.find("GET", request.url ?? "/");
      if (found === null) {
        socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
        return;
      }
      const route = found.store as WsRoute;
      acceptWebSocket(host, request, socket, head, found.params, route.handler, route.options);
    },
    on(method, path, handler) {
      add(method, path, handler);
      return router;
    },
    get: (path, handler) => router.on("GET", path, handler),
    post: (path, handler) => router.on("POST", path, handler),
    put: (path, handler) => router.on("PUT", path, handler),
    delete: (path, handler) => router.on("DELETE", path, handler),
    patch: (path, handler) => router.on("PATCH", path, handler),
    ws(path, handler, options = {}) {
      const route: WsRoute = {
        name: `WS ${path}`,
        open: 0,
        options,
        *handler(socket, ctx) {
          route.open++;
          try {
            yield* handler(socket, ctx);
          } finally {
            route.open--;
          }
        },
      };
      routes.push(route);
      sockets.on("GET", path, () => {}, route);
      return router;
    },
    static(prefix, dir, options) {
      const base = prefix.endsWith("/") ? prefix : `${prefix}/`;
      const handler = serveStatic(dir, options);
      for (const method of ["GET", "HEAD"] as const) {
        add(method, `${base}*`, handler);
        if (base !== "/") add(method, base.slice(0, -1), handler);
      }
      return router;
    },
  };
  return router;
}
