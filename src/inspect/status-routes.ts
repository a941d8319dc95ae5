import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { LiveFeed, LiveWatcher } from "./live-feed.js";
import type { InspectorSnapshot } from "./snapshot.js";
import { renderStatusPage, STATUS_PAGE_CSP, type StatusPageOptions } from "./status-page.js";

/** A plain `node:http` request handler. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Options of {@link createStatusRoutes}. */
export interface StatusRoutesOptions extends Omit<StatusPageOptions, "eventsPath"> {
  /** Where the routes live. Default `"/status"`; `"/"` mounts them at the root. */
  prefix?: string;
  /**
   * A shared secret every request must present, as `Authorization: Bearer
   * <token>` or `?token=<token>` (the page keeps it when it refreshes itself);
   * anything else gets 401. Default: none (anyone who reaches the port sees
   * everything: bind to 127.0.0.1).
   */
  token?: string;
  /**
   * The live feed to serve at `prefix + "/events"` as Server-Sent Events (one
   * `snapshot` event, then `patch` events). With it the HTML page is live;
   * without it, `/events` is not a route and the page refreshes itself.
   * `inspector.statusRoutes()` always gives it.
   */
  live?: LiveFeed;
}

/**
 * The inspector's status routes as framework-neutral `node:http` handlers.
 * For the default prefix `/status`:
 * - `GET /status` (and `/status/`) — the HTML page;
 * - `GET /status.json` (and `/status/json`) — the {@link InspectorSnapshot} as
 *   JSON (`?pretty` indents it);
 * - `GET /status/events` (with a `live` feed) — Server-Sent Events: one
 *   `snapshot` event (an {@link InspectorSnapshot}), then `patch` events
 *   (a `LivePatch`), coalesced per frame.
 *
 * `HEAD` works too; other methods get `405`. Every answer has
 * `cache-control: no-store`. With a `token`, a request without it gets `401`.
 */
export interface StatusRoutes {
  /** The normalised prefix, without a trailing slash (`""` for the root). */
  readonly prefix: string;
  /** The URL path of the HTML page, e.g. `/status`. */
  readonly htmlPath: string;
  /** The URL path of the JSON snapshot, e.g. `/status.json`. */
  readonly jsonPath: string;
  /** The URL path of the SSE stream, e.g. `/status/events` (`undefined` without a live feed). */
  readonly eventsPath: string | undefined;
  /** Answers with the HTML page, whatever the request's URL. */
  html: NodeHandler;
  /** Answers with the JSON snapshot, whatever the request's URL. */
  json: NodeHandler;
  /** Answers with the SSE stream (404 without a live feed), whatever the request's URL. */
  events: NodeHandler;
  /**
   * Answers the request and returns `true` if its path is one of the routes;
   * returns `false` and leaves `res` alone otherwise, so a server can try its
   * own routes next.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

/**
 * Builds the {@link StatusRoutes} for a snapshot function; each request takes
 * a fresh snapshot. They need nothing but `node:http`, so they mount in a bare
 * `createServer`, in `bough/http` (through its raw request), Express, Fastify
 * (`reply.raw`) or Hono's node adapter. Usually obtained through
 * `inspector.statusRoutes()`.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * const routes = createStatusRoutes(() => inspector.snapshot(), { prefix: "/status" });
 * const server = createServer((req, res) => {
 *   if (routes.handle(req, res)) return;
 *   res.statusCode = 404;
 *   res.end("not found");
 * });
 * ```
 */
export function createStatusRoutes(
  snapshot: () => InspectorSnapshot,
  options: StatusRoutesOptions = {},
): StatusRoutes {
  const prefix = normalisePrefix(options.prefix ?? "/status");
  const live = options.live;
  const eventsPath = live ? `${prefix}/events` : undefined;
  const page: StatusPageOptions = {
    title: options.title,
    refreshMs: options.refreshMs,
    eventsPath,
    lines: options.lines,
  };
  const htmlPaths = new Set([prefix || "/", `${prefix}/`]);
  const jsonPaths = new Set([`${prefix}/json`]);
  if (prefix) jsonPaths.add(`${prefix}.json`);

  const allowed = options.token === undefined ? undefined : tokenCheck(options.token);
  const html: NodeHandler = (req, res) => {
    if (allowed !== undefined && !allowed(req)) return refuse(res);
    answer(req, res, "text/html; charset=utf-8", () => renderStatusPage(snapshot(), page), {
      "content-security-policy": STATUS_PAGE_CSP,
      "x-frame-options": "DENY",
    });
  };
  const json: NodeHandler = (req, res) => {
    if (allowed !== undefined && !allowed(req)) return refuse(res);
    const pretty = new URL(req.url ?? "/", "http://x").searchParams.has("pretty");
    answer(req, res, "application/json; charset=utf-8", () =>
      JSON.stringify(snapshot(), null, pretty ? 2 : undefined),
    );
  };
  const events: NodeHandler = (req, res) => {
    if (allowed !== undefined && !allowed(req)) return refuse(res);
    // as every other answer of these routes: the 404 and 405 below too
    res.setHeader("cache-control", "no-store");
    res.setHeader("x-content-type-options", "nosniff");
    if (live === undefined) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("no live feed\n");
      return;
    }
    serveEvents(req, res, live);
  };
  return {
    prefix,
    htmlPath: prefix || "/",
    jsonPath: prefix ? `${prefix}.json` : "/json",
    eventsPath,
    html,
    json,
    events,
    handle(req, res) {
      const path = pathOf(req.url);
      if (htmlPaths.has(path)) html(req, res);
      else if (jsonPaths.has(path)) json(req, res);
      else if (path === eventsPath) events(req, res);
      else return false;
      return true;
    },
  };
}

/**
 * Streams `live` to one client: a snapshot, then patches, as SSE. A client
 * that stops reading is not buffered for: patches are skipped while its
 * socket is full, and it gets a fresh snapshot once the socket drains.
 */
function serveEvents(req: IncomingMessage, res: ServerResponse, live: LiveFeed): void {
  if (req.method !== "GET") {
    res.writeHead(405, { allow: "GET", "content-type": "text/plain; charset=utf-8" });
    res.end("method not allowed\n");
    return;
  }
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-accel-buffering": "no",
  });
  res.write("retry: 1000\n\n");
  let behind = false;
  let open = true;
  const write = (event: string, data: unknown) => {
    if (behind || !open) return;
    if (!res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)) {
      behind = true;
      res.once("drain", () => {
        behind = false;
        if (!open) return;
        stop();
        stop = live.watch(watcher);
      });
    }
  };
  const watcher: LiveWatcher = {
    snapshot: (snapshot) => write("snapshot", snapshot),
    patch: (patch) => write("patch", patch),
    close: () => {
      open = false;
      res.end();
    },
  };
  let stop = live.watch(watcher);
  res.once("close", () => {
    open = false;
    stop();
  });
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** A constant-time check of the request's bearer token or `?token=`. */
function tokenCheck(token: string): (req: IncomingMessage) => boolean {
  if (typeof token !== "string" || token.length === 0) {
    throw new TypeError("statusRoutes: token must be a non-empty string");
  }
  const expected = digest(token);
  return (req) => {
    const header = req.headers.authorization;
    let given = typeof header === "string" && header.startsWith("Bearer ") ? header.slice(7) : null;
    given ??= new URL(req.url ?? "/", "http://x").searchParams.get("token");
    return given !== null && timingSafeEqual(digest(given), expected);
  };
}

function refuse(res: ServerResponse): void {
  res.writeHead(401, {
    "www-authenticate": 'Bearer realm="status"',
    "cache-control": "no-store",
    "content-type": "text/plain; charset=utf-8",
  });
  res.end("a token is required: Authorization: Bearer <token> or ?token=<token>\n");
}

function answer(
  req: IncomingMessage,
  res: ServerResponse,
  type: string,
  body: () => string,
  headers: Record<string, string> = {},
): void {
  res.setHeader("cache-control", "no-store");
  res.setHeader("x-content-type-options", "nosniff");
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
    res.end("method not allowed\n");
    return;
  }
  let text: string;
  try {
    text = body();
  } catch (error) {
    res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
    res.end(`status snapshot failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return;
  }
  res.writeHead(200, {
    ...headers,
    "content-type": type,
    "content-length": Buffer.byteLength(text),
  });
  res.end(req.method === "HEAD" ? undefined : text);
}

function pathOf(url: string | undefined): string {
  const raw = url ?? "/";
  const end = raw.search(/[?#]/);
  return end === -1 ? raw : raw.slice(0, end);
}

function normalisePrefix(prefix: string): string {
  if (typeof prefix !== "string" || !prefix.startsWith("/") || /[?#\s]/.test(prefix)) {
    throw new TypeError(
      `statusRoutes: prefix must be a path starting with "/", got ${JSON.stringify(prefix)}`,
    );
  }
  return prefix.replace(/\/+$/, "");
}
