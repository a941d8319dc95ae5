import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { action, type Operation, resource } from "effection";
import type { StatusRoutes } from "./status-routes.js";

/** Options of {@link useStatusServer}. */
export interface StatusServerOptions {
  /** The port; `0` (the default) picks a free one. */
  port?: number;
  /**
   * The address. Default `"127.0.0.1"`: the status page shows the process's
   * output, counters, task tree, pid and memory, so it stays on this machine
   * unless you say otherwise (and then give the routes a `token`).
   */
  host?: string;
}

/** The status page's own server, as provided by {@link useStatusServer}. */
export interface StatusServer {
  /** The port it listens on. */
  readonly port: number;
  /** The HTML page's URL, e.g. `http://127.0.0.1:9464/status`. */
  readonly url: string;
}

/**
 * Serves `routes` on a `node:http` server of their own, for the lifetime of
 * the calling scope, separately from the app's address: an app that listens
 * on `0.0.0.0` keeps its status page on `127.0.0.1`. Paths that are not
 * status routes get 404. Usually started by `useInspector({ listen })`.
 *
 * @example
 * ```ts
 * const inspector = yield* useInspector();
 * const status = yield* useStatusServer(inspector.statusRoutes(), { port: 9464 });
 * console.log(`status on ${status.url}`); // http://127.0.0.1:9464/status
 * ```
 */
export function useStatusServer(
  routes: StatusRoutes,
  options: StatusServerOptions = {},
): Operation<StatusServer> {
  return resource(function* (provide) {
    const host = options.host ?? "127.0.0.1";
    const server = createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, (req, res) => {
      if (routes.handle(req, res)) return;
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("not found\n");
    });
    yield* action<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, host, () => {
        server.off("error", reject);
        resolve();
      });
      return () => {};
    });
    try {
      const { port } = server.address() as AddressInfo;
      const shown = host.includes(":") ? `[${host}]` : host;
      yield* provide({ port, url: `http://${shown}:${port}${routes.htmlPath}` });
    } finally {
      server.closeAllConnections();
      yield* action<void>((resolve) => {
        server.close(() => resolve());
        return () => {};
      });
    }
  });
}
