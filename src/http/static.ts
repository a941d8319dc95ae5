import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
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
  /**
   * Which symbolic links may be followed. Whatever this says, a file is served
   * only if its real path (every link resolved) lies inside the real path of
   * `dir`; anything else is 404.
   * - `"none"` (default): no link below `dir` is followed at all;
   * - `"inside"`: links are followed when their target stays inside `dir`.
   */
  links?: "none" | "inside";
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

/** The real path of `path`, or `undefined` if it does not exist. */
function real(path: string): Operation<string | undefined> {
  return until(realpath(path).catch(() => undefined));
}

/**
 * A handler serving the files under `dir`, for `router.static(prefix, dir)`.
 * Paths that escape `dir` get 404, as do missing files. The check is on the
 * file's real path, resolved at every request (so a link created after the
 * server started is caught too): a link that leads out of `dir` is never
 * followed, and with the default `links: "none"` no link is. The file served
 * is the one at the checked real path.
 *
 * @example
 * ```ts
 * createRouter().get("/assets/*", serveStatic("./public"));
 * createRouter().get("/shared/*", serveStatic("./shared", { links: "inside" }));
 * ```
 */
export function serveStatic(dir: string, options: StaticOptions = {}): Handler {
  const root = resolve(dir);
  const index = options.index ?? "index.html";
  const cacheControl = options.cacheControl ?? "no-cache";
  const links = options.links ?? "none";
  let realRoot: string | undefined;
  return function* (ctx: RequestContext) {
    let relative: string;
    try {
      relative = decodeURIComponent(ctx.params["*"] ?? "");
    } catch {
      return error("malformed path", 400);
    }
    let path = resolve(join(root, relative));
    if (path !== root && !path.startsWith(root + sep)) return error("not found", 404);
    let info = yield* until(stat(path).catch(() => undefined));
    if (info?.isDirectory()) {
      path = join(path, index);
      info = yield* until(stat(path).catch(() => undefined));
    }
    if (info === undefined || !info.isFile()) return error("not found", 404);
    // the path string is inside the root; now the file it leads to must be too
    realRoot ??= yield* real(root);
    const target = yield* real(path);
    if (realRoot === undefined || target === undefined) return error("not found", 404);
    const inside = links === "inside" ? realRoot + sep : undefined;
    const literal = realRoot + path.slice(root.length);
    if (inside === undefined ? target !== literal : !target.startsWith(inside)) {
      return error("not found", 404);
    }
    return new FileReply(target, info.size, cacheControl);
  };
}
