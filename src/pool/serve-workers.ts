import type { ChildProcess } from "node:child_process";
import { createHash, timingSafeEqual } from "node:crypto";
import { existsSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { availableParallelism } from "node:os";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";
import type { ResourceLimits } from "node:worker_threads";
import { action, type Operation, resource, run, suspend, until, useScope } from "effection";
import { type Clock, useClock } from "../core/clock.js";
import { createTimerSet, type Deadline, type TimerSet } from "../core/timer-set.js";
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
    const clock = yield* useClock();
    const core = new ServerCore(options, createTimerSet(yield* useScope(), clock), clock);
    const listener = createListener(options, core);
    const address = yield* listenOn(listener, options.listen);
    try {
      yield* provide(core.view(address));
    } finally {
      yield* core.close(listener);
    }
  });
}

/** A net or tls server whose connections go to `core.admit`. */
function createListener(options: ServeWorkersOptions, core: ServerCore): Server {
  const admit = (socket: Socket) => core.admit(socket);
  if (options.tls === undefined) return createServer({ pauseOnConnect: true }, admit);
  const { maxConnections, handshakeTimeoutMs } = core.settings;
  const server = createTlsServer({ ...options.tls, handshakeTimeout: handshakeTimeoutMs }, admit);
  // A backstop for connections still in their TLS handshake (not yet counted).
  server.maxConnections = maxConnections + 16;
  server.on("tlsClientError", (error: Error, socket: Socket) => {
    core.settings.onProtocolError(new ProtocolError(`TLS handshake failed: ${error.message}`));
    socket.destroy();
  });
  return server;
}

/** Listens on a unix socket (replacing a stale socket file) or a TCP port; the actual address. */
function* listenOn(server: Server, listen: SocketAddress): Operation<SocketAddress> {
  if ("path" in listen) {
    if (existsSync(listen.path)) unlinkSync(listen.path);
    yield* listening(server, () => server.listen(listen.path));
    return { path: listen.path };
  }
  yield* listening(server, () => server.listen(listen.port, listen.host ?? "127.0.0.1"));
  const bound = server.address();
  return {
    host: listen.host ?? "127.0.0.1",
    port: typeof bound === "object" && bound ? bound.port : listen.port,
  };
}

/** The options of {@link serveWorkers} with their defaults filled in. */
function serverSettings(options: ServeWorkersOptions) {
  const hungWorkerTimeoutMs = options.hungWorkerTimeoutMs ?? Number.POSITIVE_INFINITY;
  const idleTimeoutMs = options.idleTimeoutMs ?? Number.POSITIVE_INFINITY;
  return {
    file: resolveWorkerFile(options.worker),
    transport: options.transport ?? "process",
    maxFrameBytes: options.maxFrameBytes ?? MAX_FRAME_BYTES,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 5_000,
    maxConnections: options.maxConnections ?? 1_000,
    maxWorkers: options.maxWorkers ?? 4 * availableParallelism(),
    idleTimeoutMs,
    hungWorkerTimeoutMs,
    /** Whether the server watches calls in flight (for the idle or hung-worker timeout). */
    tracking: Number.isFinite(idleTimeoutMs) || Number.isFinite(hungWorkerTimeoutMs),
    secret: options.token === undefined ? undefined : digest(options.token),
    onProtocolError:
      options.onProtocolError ??
      ((error: ProtocolError) => console.warn(`bough/pool server: ${error.message}`)),
    onRefused:
      options.onRefused ??
      ((error: ServerRefusedError) => {
        if (error.reason === "unauthorized") console.warn(`bough/pool server: ${error.message}`);
      }),
    onReap:
      options.onReap ??
      ((event: { reason: "hung" | "idle"; pid?: number }) => {
        if (event.reason === "hung") {
          console.warn(
            `bough/pool server: killed worker ${event.pid ?? ""} busy for over ${hungWorkerTimeoutMs} ms`,
          );
        }
      }),
  };
}

/** A served connection's watch: see {@link ServerCore.watch}. */
interface Watch {
  set(inflight: number): void;
  stop(): void;
}

/** The worker server's state and its steps: admit a connection, give it a worker, close. */
class ServerCore {
  readonly settings: ReturnType<typeof serverSettings>;
  private readonly handshaking = new Set<Socket>();
  private readonly sockets = new Set<Socket>();
  private readonly links = new Set<WorkerLink>();
  private readonly kills = new Set<Promise<void>>();
  private readonly children = new Set<ChildProcess>();
  private readonly exits = new Set<Promise<void>>();
  private spawned = 0;
  private closing = false;

  constructor(
    private readonly options: ServeWorkersOptions,
    private readonly deadlines: TimerSet,
    private readonly clock: Clock,
  ) {
    this.settings = serverSettings(options);
  }

  /** The server as its user sees it. */
  view(address: SocketAddress): WorkerServer {
    const core = this;
    return {
      address,
      get connections() {
        return core.handshaking.size + core.sockets.size + core.children.size;
      },
      get workers() {
        return core.links.size + core.children.size;
      },
      get spawned() {
        return core.spawned;
      },
    };
  }

  /**
   * Every connection first proves itself with a hello frame, within
   * handshakeTimeoutMs: until then it costs a socket and a deadline, no worker.
   */
  admit(socket: Socket): void {
    const { maxConnections, maxFrameBytes, handshakeTimeoutMs } = this.settings;
    socket.on("error", () => {});
    if (this.closing) {
      socket.destroy();
      return;
    }
    if (this.handshaking.size + this.sockets.size + this.children.size >= maxConnections) {
      this.refuse(socket, "busy", `${maxConnections} connections are open (maxConnections)`);
      return;
    }
    this.handshaking.add(socket);
    const decoder = createFrameDecoder(Math.min(4_096, maxFrameBytes));
    const done = () => {
      this.deadlines.cancel(timer);
      this.handshaking.delete(socket);
      socket.off("data", onData);
      socket.off("close", done);
    };
    const fail = (error: ProtocolError) => {
      done();
      this.settings.onProtocolError(error);
      socket.destroy();
    };
    const timer = this.deadlines.add(this.clock.now() + handshakeTimeoutMs, () =>
      fail(new ProtocolError(`no hello frame within ${handshakeTimeoutMs} ms`)),
    );
    const onData = (chunk: Buffer) => {
      let hello: HelloMeta;
      try {
        const frames = decoder.push(chunk);
        if (frames.length === 0) return;
        if (frames.length > 1) throw new ProtocolError("frames sent before the worker was ready");
        [, hello] = checkHelloFrame(frames[0]);
      } catch (error) {
        fail(error instanceof ProtocolError ? error : new ProtocolError(String(error)));
        return;
      }
      done();
      socket.pause();
      this.serve(socket, hello);
    };
    socket.on("data", onData);
    socket.once("close", done);
    socket.resume();
  }

  /** A connection said hello: refuse it (token, maxWorkers) or give it a worker. */
  private serve(socket: Socket, hello: HelloMeta): void {
    const { secret, maxWorkers, transport } = this.settings;
    const who = hello.name === undefined ? "" : ` (client ${JSON.stringify(hello.name)})`;
    if (secret !== undefined && !sameSecret(secret, hello.token)) {
      this.refuse(socket, "unauthorized", `wrong or missing token${who}`);
      return;
    }
    if (this.links.size + this.children.size >= maxWorkers) {
      this.refuse(socket, "busy", `${maxWorkers} workers are running (maxWorkers)${who}`);
      return;
    }
    try {
      const direct = this.options.tls === undefined && this.options.resourceLimits === undefined;
      if (transport === "process" && direct) this.handOff(socket, hello.name);
      else this.relay(socket, hello.name);
    } catch (error) {
      console.error("bough/pool server: cannot start a worker for a connection", error);
      socket.destroy();
    }
  }

  private refuse(socket: Socket, reason: RefusalMeta["reason"], message: string): void {
    this.settings.onRefused(new ServerRefusedError(reason, message));
    socket.on("error", () => {});
    socket.end(encodeFrame(["no", { reason, message }]));
    socket.once("finish", () => socket.destroy());
  }

  /**
   * The server's own watch on a served connection: with calls in flight, a
   * reply must come within hungWorkerTimeoutMs; without, a call must come
   * within idleTimeoutMs. Otherwise `reap` ends the worker.
   */
  private watch(reap: (reason: "hung" | "idle") => void): Watch {
    const { hungWorkerTimeoutMs, idleTimeoutMs } = this.settings;
    let inflight = 0;
    let deadline: Deadline | undefined;
    const arm = () => {
      this.deadlines.cancel(deadline);
      deadline = undefined;
      const ms = inflight > 0 ? hungWorkerTimeoutMs : idleTimeoutMs;
      if (this.closing || !Number.isFinite(ms)) return;
      deadline = this.deadlines.add(this.clock.now() + ms, () =>
        reap(inflight > 0 ? "hung" : "idle"),
      );
    };
    arm();
    return {
      set: (n: number) => {
        inflight = n;
        arm();
      },
      stop: () => {
        this.deadlines.cancel(deadline);
        deadline = undefined;
      },
    };
  }

  /**
   * Process workers get the connection itself (AnyEvent::Task's fork per
   * connection): the server hands the socket over and is out of the path;
   * with a watch, the worker reports its calls in flight over IPC.
   */
  private handOff(socket: Socket, name: string | undefined): void {
    const { file, maxFrameBytes, tracking } = this.settings;
    const child = forkWorkerFile(
      file,
      {
        [MODE_ENV]: "socket",
        [MAX_FRAME_ENV]: String(maxFrameBytes),
        ...(tracking ? { [ACTIVITY_ENV]: "1" } : {}),
      },
      { execArgv: this.options.execArgv, title: workerTitle(name) },
    );
    this.spawned++;
    this.children.add(child);
    let handed = false;
    // Watched from the worker's first report (sent when it is ready).
    let watching: Watch | undefined;
    const exited = new Promise<void>((resolve) => {
      child.once("exit", () => {
        watching?.stop();
        this.children.delete(child);
        if (!handed) socket.destroy();
        resolve();
      });
    });
    this.exits.add(exited);
    exited.then(() => this.exits.delete(exited));
    child.on("error", () => {});
    socket.on("error", () => {});
    child.on("message", (message: { type?: string; message?: string; inflight?: number }) => {
      if (message?.type === "bough.activity") {
        watching ??= this.watch((reason) => {
          this.settings.onReap({ reason, pid: child.pid });
          child.kill("SIGKILL");
        });
        watching.set(message.inflight ?? 0);
      } else if (message?.type === "bough.want-socket" && !handed) {
        handed = true;
        if (socket.destroyed) child.kill("SIGKILL");
        else child.send("bough.socket", socket);
      } else if (message?.type === "bough.protocol-error") {
        this.settings.onProtocolError(new ProtocolError(message.message ?? "protocol error"));
      }
    });
  }

  /** Thread workers (and process workers under TLS or limits): the server relays NDJSON frames. */
  private relay(socket: Socket, name: string | undefined): void {
    const { file, transport, maxFrameBytes, tracking } = this.settings;
    const { execArgv, resourceLimits } = this.options;
    const link =
      transport === "process"
        ? openProcessLink(file, { execArgv, resourceLimits, title: workerTitle(name) })
        : openThreadLink(file, { execArgv, resourceLimits });
    this.spawned++;
    this.sockets.add(socket);
    socket.setNoDelay?.(true);
    this.links.add(link);
    let inflight = 0;
    let watching: Watch | undefined;
    const decoder = createFrameDecoder(maxFrameBytes);
    const write = (frame: WorkerFrame) => {
      if (socket.destroyed) return;
      if ((frame[0] === "ok" || frame[0] === "er") && inflight > 0) {
        inflight--;
        watching?.set(inflight);
      }
      socket.write(encodeReply(frame));
    };
    link.ready.then(
      (meta) => {
        if (tracking && !socket.destroyed) {
          watching = this.watch((reason) => {
            this.settings.onReap({ reason });
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
        this.settings.onProtocolError(
          error instanceof ProtocolError ? error : new ProtocolError(String(error)),
        );
        socket.destroy();
      }
    });
    socket.on("close", () => {
      watching?.stop();
      this.sockets.delete(socket);
      this.kill(link);
    });
    socket.resume();
  }

  private kill(link: WorkerLink): void {
    if (!this.links.delete(link)) return;
    const gone = link.kill();
    this.kills.add(gone);
    gone.then(() => this.kills.delete(gone));
  }

  /** Stops listening, closes every connection, ends every worker and waits until all are gone. */
  *close(listener: Server): Operation<void> {
    this.closing = true;
    this.deadlines.close();
    const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
    for (const socket of this.handshaking) socket.destroy();
    for (const socket of this.sockets) socket.destroy();
    for (const link of [...this.links]) this.kill(link);
    for (const child of this.children) child.kill("SIGKILL");
    yield* until(Promise.all([closed, ...this.kills, ...this.exits]));
  }
}

/** A worker's frame as an NDJSON line; a result JSON cannot carry becomes the call's SerializationError. */
function encodeReply(frame: WorkerFrame): string {
  try {
    return encodeFrame(frame);
  } catch (error) {
    return encodeFrame([
      "er",
      frame[1] as ReplyMeta,
      serializeError(
        new SerializationError(`the result cannot be sent as JSON: ${(error as Error).message}`),
      ),
    ]);
  }
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
