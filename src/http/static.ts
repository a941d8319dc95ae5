import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import { action, type Operation, until } from "effection";
import type { RequestContext } from "./context.js";
import { error, StreamReply } from "./reply.js";
import type { Handler } from "./server.js";

/** Options of `router.static(prefix, dir, options)`. */
export interface StaticOptions {
  /** The file served for a directory. Default `"index.html"`. */
  index?: string;
  /** The `Cache-Control` header. Default `"no-cache"`. */
  cacheControl?: string;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".ico": "image/x-icon",
  ".wasm": "application/wasm",
};

class FileReply extends StreamReply {
  constructor(
    private path: string,
    private size: number,
    private cacheControl: string,
  ) {
    super();
  }

  *run(ctx: RequestContext): Operation<void> {
    const res = ctx.response;
    res.writeHead(200, {
      "content-type": TYPES[extname(this.path).toLowerCase()] ?? "application/octet-stream",
      "content-length": this.size,
      "cache-control": this.cacheControl,
    });
    if (ctx.method === "HEAD") {
      res.end();
      return;
    }
    const file = createReadStream(this.path);
    yield* action<void>((done, fail) => {
      file.on("error", fail);
      res.on("finish", done);
      res.on("close", done);
      file.pipe(res);
      return () => {
        file.unpipe(res);
        file.destroy();
        res.off("finish", done);
        res.off("close", done);
      };
    });
  }
}

/**
 * A handler serving the files under `dir`, for `router.static(prefix, dir)`.
 * Paths that escape `dir` get 404, as do missing files.
 *
 * @example
 * ```ts
 * createRouter().get("/assets/*", serveStatic("./public"));
 * ```
 */
export function serveStatic(dir: string, options: StaticOptions = {}): Handler {
  const root = resolve(dir);
  const index = options.index ?? "index.html";
  const cacheControl = options.cacheControl ?? "no-cache";
  return function* (ctx: RequestContext) {
    let relative: string;
    try {
      relative = decodeURIComponent(ctx.params["*"] ?? "");
    } catch {
      return error(400, "malformed path");
    }
    let path = resolve(join(root, relative));
    if (path !== root && !path.startsWith(root + sep)) return error(404, "not found");
    let info = yield* until(stat(path).catch(() => undefined));
    if (info?.isDirectory()) {
      path = join(path, index);
      info = yield* until(stat(path).catch(() => undefined));
    }
    if (info === undefined || !info.isFile()) return error(404, "not found");
    return new FileReply(path, info.size, cacheControl);
  };
}
