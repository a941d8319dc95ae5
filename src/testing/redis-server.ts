import { type ChildProcess, spawn as spawnProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Operation, resource, sleep, until } from "effection";

/** Options of {@link useRedisServer}. */
export interface RedisServerOptions {
  /** The program to run. Default `"redis-server"` (from `PATH`). */
  bin?: string;
  /** Extra command-line arguments, such as `["--maxmemory", "10mb"]`. */
  args?: string[];
  /** How long to wait for the server to answer PING, in ms. Default 10,000. */
  startTimeoutMs?: number;
}

/** A running `redis-server`, from {@link useRedisServer}. */
export interface RedisServer {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The data directory (holds the append-only file and the log). */
  readonly dir: string;
  /** The server's process id, while it runs. */
  readonly pid: number | undefined;
  /** Sends `signal` (default `"SIGKILL"`) and waits until the process is gone. */
  kill(signal?: NodeJS.Signals): Operation<void>;
  /**
   * Starts the server again on the same port and data directory (stopping it
   * first if it runs) and waits until it answers PING. With `appendonly yes`
   * it comes back with every write it acknowledged before it died.
   */
  restart(): Operation<void>;
}

/**
 * Starts a real `redis-server` for the calling scope: on a free port of
 * 127.0.0.1, in a fresh temporary directory, with `--save ''` and
 * `--appendonly yes`, and waits until it answers PING. When the scope ends
 * the server is stopped, its process reaped and its directory removed.
 *
 * @example
 * ```ts
 * import { run } from "effection";
 * import { useRedisServer } from "bough/testing";
 *
 * await run(function* () {
 *   const redis = yield* useRedisServer();
 *   console.log(redis.url); // redis://127.0.0.1:41234
 *   yield* redis.kill("SIGKILL"); // crash it…
 *   yield* redis.restart(); // …and bring it back with its data
 * });
 * ```
 */
export function useRedisServer(options: RedisServerOptions = {}): Operation<RedisServer> {
  const { bin = "redis-server", args = [], startTimeoutMs = 10_000 } = options;
  return resource(function* (provide) {
    const dir = mkdtempSync(join(tmpdir(), "bough-redis-"));
    let child: ChildProcess | undefined;
    let exited: Promise<void> | undefined;
    try {
      const port = yield* until(freePort());
      const logfile = join(dir, "redis.log");

      function* start(): Operation<void> {
        const proc = spawnProcess(
          bin,
          [
            "--port",
            String(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--dir",
            dir,
            "--logfile",
            logfile,
            ...args,
          ],
          { stdio: "ignore" },
        );
        child = proc;
        exited = new Promise<void>((resolve) => {
          proc.once("exit", () => resolve());
          proc.once("error", () => resolve());
        });
        const failed = new Promise<Error>((resolve) => {
          proc.once("error", (error) => resolve(error));
          proc.once("exit", (code, signal) =>
            resolve(new Error(`redis-server exited (${signal ?? code}) during start`)),
          );
        });
        const deadline = Date.now() + startTimeoutMs;
        for (;;) {
          const outcome = yield* until(Promise.race([ping(port), failed]));
          if (outcome === true) return;
          if (outcome instanceof Error) {
            throw new Error(`${outcome.message}\n${tail(logfile)}`);
          }
          if (Date.now() > deadline) {
            throw new Error(
              `redis-server on port ${port} did not answer PING within ${startTimeoutMs} ms\n${tail(logfile)}`,
            );
          }
          yield* sleep(20);
        }
      }

      function* stop(signal: NodeJS.Signals): Operation<void> {
        const proc = child;
        if (!proc || proc.exitCode !== null || proc.signalCode !== null) {
          child = undefined;
          return;
        }
        proc.kill(signal);
        yield* until(exited ?? Promise.resolve());
        child = undefined;
      }

      yield* start();
      yield* provide({
        port,
        url: `redis://127.0.0.1:${port}`,
        dir,
        get pid() {
          return child?.pid;
        },
        kill: (signal: NodeJS.Signals = "SIGKILL") => stop(signal),
        *restart() {
          yield* stop("SIGTERM");
          yield* start();
        },
      });
    } finally {
      const proc = child;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGKILL");
        yield* until(exited ?? Promise.resolve());
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** Asks the OS for a free TCP port on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves true when a Redis server answers PING on `port`, false otherwise. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: "127.0.0.1" });
    let reply = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString();
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
  });
}

function tail(file: string): string {
  if (!existsSync(file)) return "";
  return readFileSync(file, "utf8").split("\n").slice(-15).join("\n");
}
