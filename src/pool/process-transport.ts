import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ResourceLimits } from "node:worker_threads";
import { SpawnError, WorkerCrashedError, WorkerResourceLimitError } from "./errors.js";
import {
  type ClientFrame,
  type PackedWorkerFrame,
  packClientFrame,
  unpackWorkerFrame,
} from "./protocol.js";
import { needsTsx, tsxLoaderUrl } from "./worker-file.js";
import { MODE_ENV, type WorkerLink, WorkerLinkBase } from "./worker-link.js";

/** Options of {@link openProcessLink}. */
export interface ProcessLinkOptions {
  /** Extra Node flags for the child (tsx is added for `.ts` files). */
  execArgv?: string[];
  /** Environment of the child. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /**
   * Memory limits of the child, as V8 flags: `maxOldGenerationSizeMb` →
   * `--max-old-space-size`, `maxYoungGenerationSizeMb` → `--max-semi-space-size`
   * (a third of it), `stackSizeMb` → `--stack-size`. A child that goes past its
   * heap limit is stopped by V8; its link reports a
   * {@link WorkerResourceLimitError} (V8's report on stderr becomes the error's
   * message instead of being printed). Default: none.
   */
  resourceLimits?: ResourceLimits;
  /** The child's process title (its `argv[0]`, what `ps` shows); see {@link workerTitle}. Default: node's own. */
  title?: string;
}

/**
 * The process title of a worker for a client `name`: `bough-worker:NAME`, with
 * anything but printable ASCII replaced and at most 64 characters of the name
 * (it may come from a remote client). Undefined without a name.
 *
 * @example
 * ```ts
 * workerTitle("password hasher"); // "bough-worker:password hasher"
 * ```
 */
export function workerTitle(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  return `bough-worker:${name.replace(/[^\x20-\x7e]/g, "?").slice(0, 64)}`;
}

/**
 * The V8 flags for a process worker's `resourceLimits`.
 *
 * @example
 * ```ts
 * limitFlags({ maxOldGenerationSizeMb: 64 }); // ["--max-old-space-size=64"]
 * ```
 */
export function limitFlags(limits: ResourceLimits | undefined): string[] {
  if (limits === undefined) return [];
  const flags: string[] = [];
  if (limits.maxOldGenerationSizeMb !== undefined) {
    flags.push(`--max-old-space-size=${limits.maxOldGenerationSizeMb}`);
  }
  if (limits.maxYoungGenerationSizeMb !== undefined) {
    flags.push(
      `--max-semi-space-size=${Math.max(1, Math.floor(limits.maxYoungGenerationSizeMb / 3))}`,
    );
  }
  if (limits.stackSizeMb !== undefined) {
    flags.push(`--stack-size=${Math.max(1, Math.floor(limits.stackSizeMb * 1024))}`);
  }
  return flags;
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
    ...limitFlags(options.resourceLimits),
  ];
  return fork(fileURLToPath(file), [], {
    ...(options.title === undefined ? {} : { argv0: options.title }),
    execArgv,
    env: { ...(options.env ?? process.env), ...extraEnv },
    serialization: "advanced",
    // with limits, stderr passes through the parent, which keeps V8's
    // out-of-memory report for the error instead of printing it
    stdio: ["ignore", "inherit", options.resourceLimits ? "pipe" : "inherit", "ipc"],
  });
}

/**
 * Passes a child's stderr through to this process's stderr, line by line,
 * except V8's out-of-memory report (from its "Last few GCs" banner on), which
 * it keeps: `report()` returns it once the child has died of it.
 */
class StderrWatch {
  private pending = "";
  private held: string[] = [];
  private holding = false;

  constructor(stream: NodeJS.ReadableStream) {
    stream.setEncoding?.("utf8");
    stream.on("data", (chunk: string) => {
      const lines = (this.pending + chunk).split("\n");
      this.pending = lines.pop() ?? "";
      for (const line of lines) this.line(line);
    });
  }

  private line(line: string): void {
    if (!this.holding && /^<--- Last few GCs --->|^FATAL ERROR:/.test(line.trim())) {
      this.holding = true;
    }
    if (this.holding) this.held.push(line);
    else process.stderr.write(`${line}\n`);
  }

  /** V8's fatal heap error line, when the child died of one. */
  outOfMemory(): string | undefined {
    if (this.pending) this.line(this.pending);
    this.pending = "";
    return this.held.find((l) => /FATAL ERROR:.*(heap|memory)/i.test(l))?.trim();
  }

  /** Prints what was held back (the child died of something else). */
  flush(): void {
    if (this.held.length > 0) process.stderr.write(`${this.held.join("\n")}\n`);
    this.held = [];
    this.holding = false;
  }
}

class ProcessLink extends WorkerLinkBase {
  private readonly child: ChildProcess;

  constructor(file: URL, options: ProcessLinkOptions) {
    super("the worker process was stopped before it was ready");
    this.child = forkWorkerFile(file, { [MODE_ENV]: "process" }, options);
    const stderr = this.child.stderr ? new StderrWatch(this.child.stderr) : undefined;
    this.child.on("message", (packed: PackedWorkerFrame) =>
      this.receive(unpackWorkerFrame(packed)),
    );
    this.child.on("error", (error) => {
      this.lastError = error;
    });
    const exited = (code: number | null, signal: NodeJS.Signals | null) => {
      const outOfMemory = stderr?.outOfMemory();
      if (outOfMemory === undefined) stderr?.flush();
      const how = signal ? `signal ${signal}` : `code ${code}`;
      this.ended(
        () =>
          new SpawnError(
            `worker process ${file.href} exited with ${how} before it was ready (does it export defineWorker(...)?)`,
            { cause: this.lastError },
          ),
        () =>
          outOfMemory !== undefined
            ? new WorkerResourceLimitError(
                `worker process went past its resourceLimits (${how}): ${outOfMemory}`,
                code,
              )
            : new WorkerCrashedError(`worker process exited with ${how}`, code),
      );
    };
    // "exit" can come before the last IPC messages are read (a worker says
    // "by" just before it exits): wait for the channel to close first, and
    // for a piped stderr to be read to its end.
    const channel = new Promise<void>((done) => {
      if (this.child.connected) this.child.once("disconnect", () => done());
      else done();
    });
    const errors = new Promise<void>((done) => {
      const stream = this.child.stderr;
      if (stream === null || stream.readableEnded || stream.destroyed) done();
      else stream.once("close", () => done());
    });
    this.child.once("exit", (code, signal) => {
      Promise.all([channel, errors]).then(() => exited(code, signal));
    });
  }

  send(frame: ClientFrame): void {
    if (!this.child.connected) return;
    this.post(
      frame,
      packClientFrame(frame),
      (packed) => this.child.send(packed),
      "a worker process",
    );
  }

  protected stop(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGKILL");
    }
  }
}
