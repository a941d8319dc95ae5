import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SerializationError, SpawnError, WorkerCrashedError } from "./errors.js";
import {
  type ClientFrame,
  type PackedWorkerFrame,
  packClientFrame,
  type ReadyMeta,
  unpackWorkerFrame,
  type WorkerFrame,
} from "./protocol.js";
import { needsTsx, tsxLoaderUrl } from "./worker-file.js";
import { MODE_ENV, noop, ReadyHandshake, type WorkerLink } from "./worker-link.js";

/** Options of {@link openProcessLink}. */
export interface ProcessLinkOptions {
  /** Extra Node flags for the child (tsx is added for `.ts` files). */
  execArgv?: string[];
  /** Environment of the child. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Forks the worker file as a child process and returns its link. Frames
 * travel over Node's IPC channel with the `advanced` (structured clone)
 * serialization. A child whose parent dies exits (its IPC channel closes).
 *
 * @example
 * ```ts
 * const link = openProcessLink(new URL("./worker.ts", import.meta.url));
 * const { pid } = await link.ready;
 * await link.kill(); // resolves once the child has been reaped
 * ```
 */
export function openProcessLink(file: URL, options: ProcessLinkOptions = {}): WorkerLink {
  return new ProcessLink(file, options);
}

/**
 * Forks `file` with the flags and environment a bough worker or worker server
 * needs. Used by the process transport and by `useWorkerServer`.
 *
 * @example
 * ```ts
 * const child = forkWorkerFile(file, { [MODE_ENV]: "process" });
 * ```
 */
export function forkWorkerFile(
  file: URL,
  extraEnv: Record<string, string>,
  options: ProcessLinkOptions = {},
): ChildProcess {
  const execArgv = [
    ...(needsTsx(file) ? ["--import", tsxLoaderUrl()] : []),
    ...(options.execArgv ?? []),
  ];
  return fork(fileURLToPath(file), [], {
    execArgv,
    env: { ...(options.env ?? process.env), ...extraEnv },
    serialization: "advanced",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

class ProcessLink implements WorkerLink {
  readonly ready: Promise<ReadyMeta>;
  onFrame: (frame: WorkerFrame) => void = noop;
  onExit: (error: Error) => void = noop;
  private readonly child: ChildProcess;
  private readonly gone: Promise<void>;
  private readonly handshake = new ReadyHandshake();
  private killed = false;
  private lastError: unknown;

  constructor(file: URL, options: ProcessLinkOptions) {
    this.child = forkWorkerFile(file, { [MODE_ENV]: "process" }, options);
    this.ready = this.handshake.ready;
    this.child.on("message", (packed: PackedWorkerFrame) => {
      const frame = unpackWorkerFrame(packed);
      if (this.handshake.accept(frame)) this.onFrame(frame);
    });
    this.child.on("error", (error) => {
      this.lastError = error;
    });
    this.gone = new Promise<void>((resolve) => {
      const exited = (code: number | null, signal: NodeJS.Signals | null) => {
        resolve();
        if (this.killed) {
          this.handshake.fail(new SpawnError("the worker process was stopped before it was ready"));
          return;
        }
        const how = signal ? `signal ${signal}` : `code ${code}`;
        if (!this.handshake.isReady) {
          this.handshake.fail(
            new SpawnError(
              `worker process ${file.href} exited with ${how} before it was ready (does it export defineWorker(...)?)`,
              { cause: this.lastError },
            ),
          );
        } else {
          this.onExit(new WorkerCrashedError(`worker process exited with ${how}`, code));
        }
      };
      // "exit" can come before the last IPC messages are read (a worker says
      // "by" just before it exits): wait for the channel to close first.
      this.child.once("exit", (code, signal) => {
        if (this.child.connected) this.child.once("disconnect", () => exited(code, signal));
        else exited(code, signal);
      });
    });
  }

  send(frame: ClientFrame): void {
    if (!this.child.connected) return;
    try {
      this.child.send(packClientFrame(frame));
    } catch (error) {
      throw SerializationError.forFrame(frame, "a worker process", error);
    }
  }

  kill(): Promise<void> {
    if (!this.killed) {
      this.killed = true;
      if (this.child.exitCode === null && this.child.signalCode === null) {
        this.child.kill("SIGKILL");
      }
    }
    return this.gone;
  }
}
