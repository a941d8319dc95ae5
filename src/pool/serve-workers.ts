import type { ChildProcess } from "node:child_process";
import { existsSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { action, type Operation, resource, run, suspend, until } from "effection";
import { ProtocolError, SerializationError, serializeError } from "./errors.js";
import { forkWorkerFile } from "./process-transport.js";
import {
  checkClientFrame,
  createFrameDecoder,
  encodeFrame,
  MAX_FRAME_BYTES,
  type ReplyMeta,
  type WorkerFrame,
} from "./protocol.js";
import type { SocketAddress } from "./socket-transport.js";
import { openThreadLink } from "./thread-transport.js";
import { resolveWorkerFile } from "./worker-file.js";
import { MAX_FRAME_ENV, MODE_ENV, type WorkerLink } from "./worker-link.js";

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
  /** Largest accepted frame in bytes. Default 16 MiB. */
  maxFrameBytes?: number;
  /** Called when a connection sends garbage (it is then closed). Default: `console.warn`. */
  onProtocolError?: (error: ProtocolError) => void;
}

/** A running worker server. */
export interface WorkerServer {
  /** Where it listens (for TCP, with the actual port). */
  readonly address: SocketAddress;
  /** Open client connections (each holds one worker). */
  readonly connections: number;
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
    const onProtocolError =
      options.onProtocolError ??
      ((error: ProtocolError) => console.warn(`bough/pool server: ${error.message}`));
    const sockets = new Set<Socket>();
    const links = new Set<WorkerLink>();
    const kills = new Set<Promise<void>>();

    const kill = (link: WorkerLink) => {
      if (!links.delete(link)) return;
      const gone = link.kill();
      kills.add(gone);
      gone.then(() => kills.delete(gone));
    };

    const children = new Set<ChildProcess>();
    const exits = new Set<Promise<void>>();

    // Process workers get the connection itself (AnyEvent::Task's fork per
    // connection): the server hands the socket over and is out of the path.
    const handOff = (socket: Socket) => {
      const child = forkWorkerFile(
        file,
        { [MODE_ENV]: "socket", [MAX_FRAME_ENV]: String(maxFrameBytes) },
        { execArgv: options.execArgv },
      );
      children.add(child);
      let handed = false;
      const exited = new Promise<void>((resolve) => {
        child.once("exit", () => {
          children.delete(child);
          if (!handed) socket.destroy();
          resolve();
        });
      });
      exits.add(exited);
      exited.then(() => exits.delete(exited));
      child.on("error", () => {});
      socket.on("error", () => {});
      child.on("message", (message: { type?: string; message?: string }) => {
        if (message?.type === "bough.want-socket" && !handed) {
          handed = true;
          if (socket.destroyed) child.kill("SIGKILL");
          else child.send("bough.socket", socket);
        } else if (message?.type === "bough.protocol-error") {
          onProtocolError(new ProtocolError(message.message ?? "protocol error"));
        }
      });
    };

    const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
      try {
        if (transport === "process") handOff(socket);
        else relay(socket);
      } catch (error) {
        console.error("bough/pool server: cannot start a worker for a connection", error);
        socket.destroy();
      }
    });

    // Thread workers: the server relays NDJSON frames to and from the thread.
    const relay = (socket: Socket) => {
      const link = openThreadLink(file, { execArgv: options.execArgv });
      socket.resume();
      sockets.add(socket);
      socket.setNoDelay?.(true);
      links.add(link);
      const decoder = createFrameDecoder(maxFrameBytes);
      const write = (frame: WorkerFrame) => {
        if (socket.destroyed) return;
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
          write(["rd", meta]);
          link.onFrame = write;
          link.onExit = () => socket.destroy();
        },
        () => socket.destroy(),
      );
      socket.on("data", (chunk) => {
        try {
          for (const value of decoder.push(chunk)) link.send(checkClientFrame(value));
        } catch (error) {
          onProtocolError(
            error instanceof ProtocolError ? error : new ProtocolError(String(error)),
          );
          socket.destroy();
        }
      });
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        kill(link);
      });
    };

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
          return sockets.size + children.size;
        },
      });
    } finally {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      for (const link of [...links]) kill(link);
      for (const child of children) child.kill("SIGKILL");
      yield* until(Promise.all([closed, ...kills, ...exits]));
    }
  });
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

/** Options passed (as JSON in the environment) to a forked worker server. */
export interface ServerProcessConfig {
  worker: string;
  listen: SocketAddress;
  transport?: "thread" | "process";
  execArgv?: string[];
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
