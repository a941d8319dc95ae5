import type { ChildProcess } from "node:child_process";
import { action, type Operation, race, resource, until } from "effection";
import { useClock } from "../core/clock.js";
import { SpawnError } from "./errors.js";
import { forkWorkerFile } from "./process-transport.js";
import type { ServerLimits, ServerProcessConfig } from "./serve-workers.js";
import type { SocketAddress } from "./socket-transport.js";
import { resolveWorkerFile } from "./worker-file.js";
import { MODE_ENV, SERVE_ENV } from "./worker-link.js";

/** Options of {@link useWorkerServer}. */
export interface WorkerServerOptions {
  /** Where the server listens: a unix socket path or a TCP port (0: any free port). */
  listen: SocketAddress;
  /** The worker file; the server process runs it too (it must `export default defineWorker(…)`). */
  worker: string | URL;
  /** How the server runs each connection's worker: `"process"` (default, handed the socket) or `"thread"` (relayed). */
  transport?: "thread" | "process";
  /** Extra Node flags for the server and its workers. */
  execArgv?: string[];
  /** How long to wait for a clean exit on shutdown before SIGKILL. Default 5 000 ms. */
  shutdownGraceMs?: number;
  /** Passed to `serveWorkers` (see its options): the limits and the shared secret. */
  limits?: ServerLimits;
}

/** A forked worker server. */
export interface ForkedWorkerServer {
  readonly address: SocketAddress;
  readonly pid: number;
}

/**
 * Forks a dedicated worker server process (AnyEvent::Task's
 * `fork_task_server`) tied to the calling scope. A keep-alive channel joins
 * them: if this process dies, the server notices and exits; when the scope
 * ends, the server shuts down (closing its workers) and this returns once it
 * has exited. Returns when the server is listening.
 *
 * @example
 * ```ts
 * const server = yield* useWorkerServer({
 *   listen: { path: "/tmp/bough-pool.sock" },
 *   worker: new URL("./hash-worker.ts", import.meta.url),
 * });
 * const pool = yield* usePool({ connect: server.address });
 * ```
 */
export function useWorkerServer(options: WorkerServerOptions): Operation<ForkedWorkerServer> {
  return resource(function* (provide) {
    const clock = yield* useClock();
    const file = resolveWorkerFile(options.worker);
    const config: ServerProcessConfig = {
      worker: file.href,
      listen: options.listen,
      transport: options.transport,
      execArgv: options.execArgv,
      limits: options.limits,
    };
    const child = forkWorkerFile(
      file,
      { [MODE_ENV]: "serve", [SERVE_ENV]: JSON.stringify(config) },
      { execArgv: options.execArgv },
    );
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("exit", () => resolve());
    });
    child.on("error", () => {});
    try {
      const address = yield* listeningAddress(child);
      yield* provide({ address, pid: child.pid! });
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        if (child.connected) child.disconnect();
        else child.kill("SIGTERM");
        yield* race([
          until(exited),
          (function* () {
            yield* clock.sleep(options.shutdownGraceMs ?? 5_000);
            child.kill("SIGKILL");
            yield* until(exited);
          })(),
        ]);
      }
    }
  });
}

function listeningAddress(child: ChildProcess): Operation<SocketAddress> {
  return action<SocketAddress>((resolve, reject) => {
    const onMessage = (message: any) => {
      if (message?.type === "bough.listening") resolve(message.address);
      else if (message?.type === "bough.failed") {
        reject(new SpawnError(`the worker server failed to start: ${message.message}`));
      }
    };
    const onExit = (code: number | null, signal: string | null) =>
      reject(
        new SpawnError(
          `the worker server exited (${signal ?? `code ${code}`}) before it was listening`,
        ),
      );
    child.on("message", onMessage);
    child.once("exit", onExit);
    return () => {
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
  });
}
