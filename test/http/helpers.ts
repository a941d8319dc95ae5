/** Real-socket HTTP clients for the bough/http tests (no keep-alive, so nothing lingers). */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request over a fresh connection; resolves with the whole response. */
export function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? "GET", headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** A streaming response being read as it arrives. */
export interface StreamClient {
  status: number;
  headers: IncomingHttpHeaders;
  /** Everything received so far. */
  readonly text: string;
  /** Resolves once `predicate(text)` holds (rejects after `timeoutMs`). */
  waitFor(predicate: (text: string) => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves when the response ends or the connection closes. */
  ended: Promise<void>;
  /** Stops reading (the server's writes back up). */
  pause(): void;
  /** Reads again after `pause()`. */
  resume(): void;
  /** Destroys the connection. */
  close(): void;
  response: IncomingMessage;
}

/** Opens a streaming GET and resolves once the headers are in. */
export function openStream(
  url: string,
  headers: Record<string, string> = {},
): Promise<StreamClient> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, agent: false }, (res) => {
      let text = "";
      const waiters = new Set<() => void>();
      let endResolve!: () => void;
      const ended = new Promise<void>((r) => {
        endResolve = r;
      });
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
        for (const w of [...waiters]) w();
      });
      res.on("end", endResolve);
      res.on("close", endResolve);
      res.on("error", () => endResolve());
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        get text() {
          return text;
        },
        waitFor(predicate, timeoutMs = 5000) {
          return new Promise((ok, fail) => {
            if (predicate(text)) return ok();
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(
                new Error(
                  `timed out waiting; received so far: ${JSON.stringify(text.slice(-500))}`,
                ),
              );
            }, timeoutMs);
            const check = () => {
              if (predicate(text)) {
                clearTimeout(timer);
                waiters.delete(check);
                ok();
              }
            };
            waiters.add(check);
            ended.then(() => {
              if (waiters.has(check)) check();
            });
          });
        },
        ended,
        pause() {
          res.pause();
          res.socket.pause();
        },
        resume() {
          res.socket?.resume();
          res.resume();
        },
        close() {
          req.destroy();
          res.destroy();
        },
        response: res,
      });
    });
    req.on("error", reject);
    req.end();
  });
}

/** A raw TCP connection to the server, for requests node:http would not send. */
export function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(socket));
    socket.on("error", reject);
  });
}

/** Resolves after `ms` milliseconds (real time). */
export function wait(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A promise with its resolve function (Node 20 has no Promise.withResolvers). */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
