import type { ChildProcess } from "node:child_process";
import { createHash, timingSafeEqual } from "node:crypto";
import { existsSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { availableParallelism } from "node:os";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";
import type { ResourceLimits } from "node:worker_threads";
import { action, type Operation, resource, run, suspend, until, useScope } from "effection";
import { useClock } from "../core/clock.js";
import { createTimerSet } from "../core/timer-set.js";
import {
  ProtocolError,
  SerializationError,
  ServerRefusedError,
  serializeError,
  WorkerResourceLimitError,
} from "./errors.js";
import { forkWorkerFile, openProcessLink, workerTitle } from "./process-transport.js";
import {
  checkClientFrame,
  checkHelloFrame,
  createFrameDecoder,
  encodeFrame,
  type HelloMeta,
  MAX_FRAME_BYTES,
  type RefusalMeta,
  type ReplyMeta,
  type WorkerFrame,
} from "./protocol.js";
import type { SocketAddress } from "./socket-transport.js";
import { openThreadLink } from "./thread-transport.js";
import { resolveWorkerFile } from "./worker-file.js";
import { ACTIVITY_ENV, MAX_FRAME_ENV, MODE_ENV, type WorkerLink } from "./worker-link.js";

/** Options of {@link serveWorkers}. */
export interface ServeWorkersOptions {
  /** A unix socket path (a stale socket file is replaced) or a TCP port (0: any free port) and host. */
  listen: SocketAddress;
  /** The worker file (`export default defineWorker(…)`). */
  worker: string | URL;
  /**
   * How the server runs each connection's worker: `"process"` (default: a child
   * process per connection that is handed the socket itself) or `"thread"` (a
   * worker thread per connection, frames relayed by the server).
   */
  transport?: "thread" | "process";
  /** Extra Node flags for each worker. */
  execArgv?: string[];
  /**
   * Memory limits of each worker, as for `usePool`: threads get Node's
   * `resourceLimits`, processes V8 flags (`--max-old-space-size`,
   * `--max-semi-space-size`, `--stack-size`). A worker that goes past its heap
   * limit is stopped by V8; the client's call fails with
   * `WorkerResourceLimitError`. With limits, process workers are relayed by the
   * server (as with `tls`) instead of being handed the socket, so that the
   * server sees why a worker died and tells the client. Default: none.
   */
  resourceLimits?: ResourceLimits;
  /** Largest accepted frame in bytes. Default 16 MiB. */
  maxFrameBytes?: number;
  /** Called when a connection sends garbage, a bad hello or no hello in time (it is then closed). Default: `console.warn`. */
  onProtocolError?: (error: ProtocolError) => void;
  /**
   * A shared secret: a client must send it in its hello frame (`usePool({
   * connect, token })`), compared in constant time, or it is refused. Never
   * expose a TCP listener beyond loopback without one. Default: none.
   */
  token?: string;
  /** How long a new connection may take to send its hello frame, in ms; no worker exists before it. Default 5 000. */
  handshakeTimeoutMs?: number;
  /** The most open connections (handshaking or served); more are refused as `"busy"`. Default 1 000. */
  maxConnections?: number;
  /** The most workers at a time (one per served connection); more are refused as `"busy"`. Default 4 × CPU count. */
  maxWorkers?: number;
  /** Close a served connection after this many ms without a call in flight. Default `Infinity`. */
  idleTimeoutMs?: number;
  /** Kill a worker that has been busy on one call for longer than this, in ms, whatever its client does. Default `Infinity`. */
  hungWorkerTimeoutMs?: number;
  /**
   * Serve over TLS (node:tls): `{ key, cert }`, and `ca` + `requestCert` for
   * client certificates. Clients connect with `connect: { host, port, tls: {
   * ca } }`. Process workers are then relayed (the server holds the TLS
   * session) instead of being handed the socket. Default: plain.
   */
  tls?: TlsOptions;
  /** Called for every refused connection. Default: `console.warn` for `"unauthorized"`, nothing for `"busy"`. */
  onRefused?: (error: ServerRefusedError) => void;
  /** Called when the server kills a worker for `hungWorkerTimeoutMs` or closes an idle connection. Default: `console.warn` for hung workers. */
  onReap?: (event: { reason: "hung" | "idle"; pid?: number }) => void;
}

/** A running worker server. */
export interface WorkerServer {
  /** Where it listens (for TCP, with the actual port). */
  readonly address: SocketAddress;
  /** Open client connections (handshaking or served). */
  readonly connections: number;
  /** Workers alive (one per served connection). */
  readonly workers: number;
  /** Workers started since the server began. */
  readonly spawned: number;
}

/**
 * The standalone worker server (AnyEvent::Task::Server): listens on a unix
 * socket or TCP and gives every client connection its own worker (a thread or
 * a child process running `worker`), relaying NDJSON frames between them.
 * Clients (`usePool({ connect })`) manage the pool: how many workers, timeouts,
 * recycling. Garbage on a connection closes that connection only, with a
 * logged {@link ProtocolError}. Ends (closing every connection and killing
 * every worker) with the calling scope.
 *
 * @example
 * ```ts
 * await main(function* () {
 *   yield* serveWorkers({
 *     listen: { path: "/tmp/bough-pool.sock" },
 *     worker: new URL("./hash-worker.ts", import.meta.url),
 *   });
 *   yield* suspend();
 * });
 * ```
 */
export function serveWorkers(options: ServeWorkersOptions): Operation<WorkerServer> {
  return resource(function* (provide) {
    const file = resolveWorkerFile(options.worker);
    const transport = options.transport ?? "process";
    const maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
    const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5_000;
    const maxConnections = options.maxConnections ?? 1_000;
    const maxWorkers = options.maxWorkers ?? 4 * availableParallelism();
    const idleTimeoutMs = options.idleTimeoutMs ?? Number.POSITIVE_INFINITY;
    const hungWorkerTimeoutMs = options.hungWorkerTimeoutMs ?? Number.POSITIVE_INFINITY;
    const tracking = Number.isFinite(idleTimeoutMs) || Number.isFinite(hungWorkerTimeoutMs);
    const secret = options.token === undefined ? undefined : digest(options.token);
    const onProtocolError =
      options.onProtocolError ??
      ((error: ProtocolError) => console.warn(`bough/pool server: ${error.message}`));
    const onRefused =
      options.onRefused ??
      ((error: ServerRefusedError) => {
        if (error.reason === "unauthorized") console.warn(`bough/pool server: ${error.message}`);
      });
    const onReap =
      options.onReap ??
      ((event: { reason: "hung" | "idle"; pid?: number }) => {
        if (event.reason === "hung") {
          console.warn(
            `bough/pool server: killed worker ${event.pid ?? ""} busy for over ${hungWorkerTimeoutMs} ms`,
          );
        }
      });
    const deadlines = createTimerSet(yield* useScope(), yield* useClock());
    const clock = yield* useClock();
    const handshaking = new Set<Socket>();
    const sockets = new Set<Socket>();
    const links = new Set<WorkerLink>();
    const kills = new Set<Promise<void>>();
    const children = new Set<ChildProcess>();
    const exits = new Set<Promise<void>>();
    let spawned = 0;
    let closing = false;

    const kill = (link: WorkerLink) => {
      if (!links.delete(link)) return;
      const gone = link.kill();
      kills.add(gone);
      gone.then(() => kills.delete(gone));
    };

    /**
     * The server's own watch on a served connection: with calls in flight, a
     * reply must come within hungWorkerTimeoutMs; without, a call must come
     * within idleTimeoutMs. Otherwise `reap` ends the worker.
     */
    const watch = (reap: (reason: "hung" | "idle") => void) => {
      let inflight = 0;
      let deadline: ReturnType<typeof deadlines.add> | undefined;
      const arm = () => {
        deadlines.cancel(deadline);
        deadline = undefined;
        const ms = inflight > 0 ? hungWorkerTimeoutMs : idleTimeoutMs;
        if (closing || !Number.isFinite(ms)) return;
        deadline = deadlines.add(clock.now() + ms, () => reap(inflight > 0 ? "hung" : "idle"));
      };
      arm();
      return {
        set(n: number) {
          inflight = n;
          arm();
        },
        stop() {
          deadlines.cancel(deadline);
          deadline = undefined;
        },
      };
    };

    const refuse = (socket: Socket, reason: RefusalMeta["reason"], message: string) => {
      onRefused(new ServerRefusedError(reason, message));
      socket.on("error", () => {});
      socket.end(encodeFrame(["no", { reason, message }]));
      socket.once("finish", () => socket.destroy());
    };

    // Process workers get the connection itself (AnyEvent::Task's fork per
    // connection): the server hands the socket over and is out of the path;
    // with a watch, the worker reports its calls in flight over IPC.
    const handOff = (socket: Socket, name: string | undefined) => {
      const child = forkWorkerFile(
        file,
        {
          [MODE_ENV]: "socket",
          [MAX_FRAME_ENV]: String(maxFrameBytes),
          ...(tracking ? { [ACTIVITY_ENV]: "1" } : {}),
        },
        { execArgv: options.execArgv, title: workerTitle(name) },
      );
      spawned++;
      children.add(child);
      let handed = false;
      // Watched from the worker's first report (sent when it is ready).
      let watching: ReturnType<typeof watch> | undefined;
      const exited = new Promise<void>((resolve) => {
        child.once("exit", () => {
          watching?.stop();
          children.delete(child);
          if (!handed) socket.destroy();
          resolve();
        });
      });
      exits.add(exited);
      exited.then(() => exits.delete(exited));
      child.on("error", () => {});
      socket.on("error", () => {});
      child.on("message", (message: { type?: string; message?: string; inflight?: number }) => {
        if (message?.type === "bough.activity") {
          watching ??= watch((reason) => {
            onReap({ reason, pid: child.pid });
            child.kill("SIGKILL");
          });
          watching.set(message.inflight ?? 0);
        } else if (message?.type === "bough.want-socket" && !handed) {
          handed = true;
          if (socket.destroyed) child.kill("SIGKILL");
          else child.send("bough.socket", socket);
        } else if (message?.type === "bough.protocol-error") {
          onProtocolError(new ProtocolError(message.message ?? "protocol error"));
        }
      });
    };

    // Thread workers: the server relays NDJSON frames to and from the thread.
    const relay = (socket: Socket, name: string | undefined) => {
      const { execArgv, resourceLimits } = options;
      const link =
        transport === "process"
          ? openProcessLink(file, { execArgv, resourceLimits, title: workerTitle(name) })
          : openThreadLink(file, { execArgv, resourceLimits });
      spawned++;
      sockets.add(socket);
      socket.setNoDelay?.(true);
      links.add(link);
      let inflight = 0;
      let watching: ReturnType<typeof watch> | undefined;
      const decoder = createFrameDecoder(maxFrameBytes);
      const write = (frame: WorkerFrame) => {
        if (socket.destroyed) return;
        if ((frame[0] === "ok" || frame[0] === "er") && inflight > 0) {
          inflight--;
          watching?.set(inflight);
        }
        let line: string;
        try {
          line = encodeFrame(frame);
        } catch (error) {
          line = encodeFrame([
            "er",
            frame[1] as ReplyMeta,
            serializeError(
              new SerializationError(
                `the result cannot be sent as JSON: ${(error as Error).message}`,
              ),
            ),
          ]);
        }
        socket.write(line);
      };
      link.ready.then(
        (meta) => {
          if (tracking && !socket.destroyed) {
            watching = watch((reason) => {
              onReap({ reason });
              socket.destroy();
            });
            watching.set(inflight);
          }
          write(["rd", meta]);
          link.onFrame = write;
          link.onExit = (error) => {
            // Past its limits, the worker's call fails with the typed error
            // (the client makes it a WorkerResourceLimitError); then the
            // connection closes, as for any worker that died.
            if (error instanceof WorkerResourceLimitError && inflight > 0 && !socket.destroyed) {
              watching?.stop();
              socket.end(encodeFrame(["er", {}, serializeError(error)]));
              socket.once("finish", () => socket.destroy());
            } else {
              socket.destroy();
            }
          };
        },
        () => socket.destroy(),
      );
      socket.on("data", (chunk) => {
        try {
          for (const value of decoder.push(chunk)) {
            const frame = checkClientFrame(value);
            if (frame[0] === "do") {
              inflight++;
              watching?.set(inflight);
            }
            link.send(frame);
          }
        } catch (error) {
          onProtocolError(
            error instanceof ProtocolError ? error : new ProtocolError(String(error)),
          );
          socket.destroy();
        }
      });
      socket.on("close", () => {
        watching?.stop();
        sockets.delete(socket);
        kill(link);
      });
      socket.resume();
    };

    // Every connection first proves itself with a hello frame, within
    // handshakeTimeoutMs: until then it costs a socket and a deadline, no worker.
    const admit = (socket: Socket) => {
      socket.on("error", () => {});
      if (closing) {
        socket.destroy();
        return;
      }
      if (handshaking.size + sockets.size + children.size >= maxConnections) {
        refuse(socket, "busy", `${maxConnections} connections are open (maxConnections)`);
        return;
      }
      handshaking.add(socket);
      const decoder = createFrameDecoder(Math.min(4_096, maxFrameBytes));
      const done = () => {
        deadlines.cancel(timer);
        handshaking.delete(socket);
        socket.off("data", onData);
        socket.off("close", onClose);
      };
      const fail = (error: ProtocolError) => {
        done();
        onProtocolError(error);
        socket.destroy();
      };
      const timer = deadlines.add(clock.now() + handshakeTimeoutMs, () =>
        fail(new ProtocolError(`no hello frame within ${handshakeTimeoutMs} ms`)),
      );
      const onClose = () => done();
      const onData = (chunk: Buffer) => {
        let frames: unknown[];
        let hello: HelloMeta;
        try {
          frames = decoder.push(chunk);
          if (frames.length === 0) return;
          if (frames.length > 1) {
            throw new ProtocolError("frames sent before the worker was ready");
          }
          [, hello] = checkHelloFrame(frames[0]);
          done();
          socket.pause();
          const who = hello.name === undefined ? "" : ` (client ${JSON.stringify(hello.name)})`;
          if (secret !== undefined && !sameSecret(secret, hello.token)) {
            refuse(socket, "unauthorized", `wrong or missing token${who}`);
            return;
          }
          if (links.size + children.size >= maxWorkers) {
            refuse(socket, "busy", `${maxWorkers} workers are running (maxWorkers)${who}`);
            return;
          }
        } catch (error) {
          fail(error instanceof ProtocolError ? error : new ProtocolError(String(error)));
          return;
        }
        try {
          const direct = options.tls === undefined && options.resourceLimits === undefined;
          if (transport === "process" && direct) handOff(socket, hello.name);
          else relay(socket, hello.name);
        } catch (error) {
          console.error("bough/pool server: cannot start a worker for a connection", error);
          socket.destroy();
        }
      };
      socket.on("data", onData);
      socket.once("close", onClose);
      socket.resume();
    };

    const server: Server =
      options.tls === undefined
        ? createServer({ pauseOnConnect: true }, admit)
        : createTlsServer({ ...options.tls, handshakeTimeout: handshakeTimeoutMs }, admit);
    // A backstop for connections still in their TLS handshake (not yet counted).
    if (options.tls !== undefined) server.maxConnections = maxConnections + 16;
    server.on("tlsClientError", (error: Error, socket: Socket) => {
      onProtocolError(new ProtocolError(`TLS handshake failed: ${error.message}`));
      socket.destroy();
    });

    let address: SocketAddress;
    const listen = options.listen;
    if ("path" in listen) {
      if (existsSync(listen.path)) unlinkSync(listen.path);
      yield* listening(server, () => server.listen(listen.path));
      address = { path: listen.path };
    } else {
      yield* listening(server, () => server.listen(listen.port, listen.host ?? "127.0.0.1"));
      const bound = server.address();
      address = {
        host: listen.host ?? "127.0.0.1",
        port: typeof bound === "object" && bound ? bound.port : listen.port,
      };
    }

    try {
      yield* provide({
        address,
        get connections() {
          return handshaking.size + sockets.size + children.size;
        },
        get workers() {
          return links.size + children.size;
        },
        get spawned() {
          return spawned;
        },
      });
    } finally {
      closing = true;
      deadlines.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of handshaking) socket.destroy();
      for (const socket of sockets) socket.destroy();
      for (const link of [...links]) kill(link);
      for (const child of children) child.kill("SIGKILL");
      yield* until(Promise.all([closed, ...kills, ...exits]));
    }
  });
}

function digest(secret: string | undefined): Buffer {
  return createHash("sha256")
    .update(secret ?? "")
    .digest();
}

/** Compares a token with the secret's digest in constant time (digests hide the length). */
function sameSecret(secret: Buffer, token: string | undefined): boolean {
  return token !== undefined && timingSafeEqual(secret, digest(token));
}

function listening(server: Server, listen: () => void): Operation<void> {
  return action<void>((resolve, reject) => {
    const fail = (error: Error) => reject(error);
    server.once("error", fail);
    server.once("listening", () => {
      server.off("error", fail);
      resolve();
    });
    listen();
    return () => server.off("error", fail);
  });
}

/** The limits of a worker server that can travel as JSON (to a forked server). */
export type ServerLimits = Pick<
  ServeWorkersOptions,
  | "token"
  | "handshakeTimeoutMs"
  | "maxConnections"
  | "maxWorkers"
  | "idleTimeoutMs"
  | "hungWorkerTimeoutMs"
  | "maxFrameBytes"
  | "resourceLimits"
>;

/** Options passed (as JSON in the environment) to a forked worker server. */
export interface ServerProcessConfig {
  worker: string;
  listen: SocketAddress;
  transport?: "thread" | "process";
  execArgv?: string[];
  limits?: ServerLimits;
}

/**
 * The body of a worker server process forked by `useWorkerServer`: serves
 * until its parent goes away (the IPC channel closes: keep-alive), then shuts
 * down cleanly and exits.
 *
 * @example
 * ```ts
 * runWorkerServerProcess({ worker: "file:///app/worker.js", listen: { path: "/tmp/w.sock" } });
 * ```
 */
export function runWorkerServerProcess(config: ServerProcessConfig): void {
  const task = run(function* () {
    const server = yield* serveWorkers({
      ...config.limits,
      listen: config.listen,
      worker: new URL(config.worker),
      transport: config.transport,
      execArgv: config.execArgv,
    });
    process.send?.({ type: "bough.listening", address: server.address, pid: process.pid });
    yield* suspend();
  });
  let exiting = false;
  const stop = (code: number) => {
    if (exiting) return;
    exiting = true;
    task.halt().then(
      () => process.exit(code),
      () => process.exit(code),
    );
  };
  task.then(undefined, (error) => {
    if (!exiting) {
      console.error("bough/pool: worker server failed", error);
      process.send?.({ type: "bough.failed", message: String(error) });
      process.exit(1);
    }
  });
  process.on("disconnect", () => stop(0));
  process.on("SIGTERM", () => stop(0));
}
