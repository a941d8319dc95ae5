import type { Socket } from "node:net";
import { threadId } from "node:worker_threads";
import type { LabelNode } from "../core/labels.js";
import { callTraceIds, closeCallLabel, openCallLabel, runInCall } from "./call-label.js";
import { createDeferredLog, type DeferredLog, type LogTimer } from "./deferred-log.js";
import { SerializationError, type SerializedError, serializeError } from "./errors.js";
import {
  type CallMeta,
  type ClientFrame,
  checkClientFrame,
  createFrameDecoder,
  type DoFrame,
  EMPTY_META,
  encodeFrame,
  type ReplyMeta,
  type WorkerFrame,
} from "./protocol.js";
import type { WorkerDefinition } from "./worker-definition.js";

/** How a worker runtime talks to its client: frames in, frames out. */
export interface FrameChannel {
  send(frame: WorkerFrame): void;
  listen(handler: (frame: ClientFrame) => void): void;
}

let current: DeferredLog | undefined;
let inCall = false;
let currentMeta: CallMeta = EMPTY_META;
/** The running call's label node, while the worker traces (see `call-label.ts`). */
let currentNode: LabelNode | undefined;

function active(): DeferredLog | undefined {
  if (!inCall) return undefined;
  current ??= createCallLog();
  return current;
}

/** A call's deferred log; a traced call's carries its trace and span ids in `data`. */
function createCallLog(): DeferredLog {
  const log = createDeferredLog();
  const ids = currentNode === undefined ? undefined : callTraceIds(currentNode);
  if (ids !== undefined) Object.assign(log.data, ids);
  return log;
}

const noTimer: LogTimer = { end() {} };

/**
 * The deferred log of the call a worker is running (Log::Defer). Lines,
 * timers and data written here travel back with the reply and are merged into
 * the checkout's `logger` with their times shifted. Outside a call (in
 * `setup`, or outside a worker) writes are dropped.
 *
 * @example
 * ```ts
 * import { defineWorker, log } from "bough/pool";
 * export default defineWorker({
 *   interface: {
 *     hash(password: string) {
 *       log.info("hashing");
 *       const timer = log.timer("bcrypt");
 *       const hashed = bcrypt.hashSync(password, 10);
 *       timer.end();
 *       return hashed;
 *     },
 *   },
 * });
 * ```
 */
export const log = {
  error: (...message: unknown[]) => active()?.error(...message),
  warn: (...message: unknown[]) => active()?.warn(...message),
  info: (...message: unknown[]) => active()?.info(...message),
  debug: (...message: unknown[]) => active()?.debug(...message),
  timer: (name: string): LogTimer => active()?.timer(name) ?? noTimer,
  /** Attaches data to this call's log. */
  data: (values: Record<string, unknown>): void => {
    const target = active();
    if (target) Object.assign(target.data, values);
  },
};

/**
 * What the caller sent with the call this worker is running: its trace
 * context (`traceparent`, while the caller runs `useTracing()` from
 * `bough/otel`) and the client's `name` (`usePool({ name })`). The same on
 * every transport. Outside a call: an empty object. A worker that runs
 * `enableTracing()` from `bough/otel` need not read it: its spans join the
 * caller's trace by themselves.
 *
 * @example
 * ```ts
 * import { callMeta, defineWorker } from "bough/pool/worker";
 * export default defineWorker({
 *   interface: {
 *     work() {
 *       const { traceparent, name } = callMeta(); // start a span under traceparent
 *       return `working for ${name ?? "someone"}`;
 *     },
 *   },
 * });
 * ```
 */
export function callMeta(): Readonly<CallMeta> {
  return currentMeta;
}

const EMPTY: ReplyMeta = {};

function takeMeta(): ReplyMeta {
  inCall = false;
  currentMeta = EMPTY_META;
  currentNode = undefined;
  if (current === undefined) return EMPTY;
  const meta = { log: current.end() };
  current = undefined;
  return meta;
}

/**
 * Serves one client on `channel` with the worker `definition`: runs `setup`,
 * says ready, then runs each `do` frame in order (one at a time, awaiting
 * async results) and each `dn` frame's `checkoutDone`. Used by the thread and
 * process transports; you do not call it yourself.
 *
 * @example
 * ```ts
 * startWorkerRuntime(definition, channel, (code) => process.exit(code));
 * ```
 */
export function startWorkerRuntime(
  definition: WorkerDefinition,
  channel: FrameChannel,
  exit: (code: number) => void,
): void {
  const runtime = new WorkerRuntime(definition, channel, exit);
  runtime.announceExits();
  channel.listen((frame) => runtime.receive(frame));
  runtime.setup();
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  value !== null && typeof (value as PromiseLike<unknown>)?.then === "function";

/** One worker serving one client, in the steps of {@link startWorkerRuntime}. */
class WorkerRuntime {
  private readonly queue: ClientFrame[] = [];
  /** True while setup, an async call or an async checkoutDone runs: frames wait in the queue. */
  private busy = true;
  /** True from a call's start until its reply (and while checkoutDone runs). */
  private running = false;
  private setupError: SerializedError | undefined;

  constructor(
    private readonly definition: WorkerDefinition,
    private readonly channel: FrameChannel,
    private readonly exit: (code: number) => void,
  ) {}

  /**
   * A worker that exits on purpose says so first, and whether a call was
   * running: a call that reached it after that never started.
   */
  announceExits(): void {
    const realExit = process.exit;
    process.exit = ((code?: number | string | null) => {
      try {
        this.channel.send(["by", { inCall: this.running }]);
      } catch {
        // the channel is gone already
      }
      return realExit.call(process, code as number);
    }) as typeof process.exit;
  }

  /** Runs `setup` (awaited when async; an error is kept for every call), then says ready. */
  setup(): void {
    let result: unknown;
    try {
      result = this.definition.setup?.();
    } catch (error) {
      this.setupError = serializeError(error);
    }
    if (!isThenable(result)) {
      this.ready();
      return;
    }
    Promise.resolve(result).then(
      () => this.ready(),
      (error) => {
        this.setupError = serializeError(error);
        this.ready();
      },
    );
  }

  private ready(): void {
    this.channel.send([
      "rd",
      {
        pid: process.pid,
        threadId,
        ...(this.definition.checkoutDone ? { done: true } : {}),
        ...(this.setupError ? { setup: this.setupError } : {}),
      },
    ]);
    this.busy = false;
    this.drain();
  }

  /** A frame from the client: handled now, or queued behind the one that runs. */
  receive(frame: ClientFrame): void {
    if (this.busy || this.queue.length > 0) this.queue.push(frame);
    else this.handle(frame);
  }

  private handle(frame: ClientFrame): void {
    if (frame[0] === "do") this.runCall(frame);
    else if (frame[0] === "dn") this.runDone();
  }

  private drain(): void {
    while (!this.busy && this.queue.length > 0) this.handle(this.queue.shift()!);
  }

  private runCall(frame: DoFrame): void {
    if (this.setupError) {
      this.channel.send(["er", EMPTY, this.setupError]);
      return;
    }
    currentMeta = frame[1];
    inCall = true;
    this.running = true;
    const traceparent = frame[1].traceparent;
    // A traced caller: the call is a node (and span) of this worker's tree, when it is watched.
    currentNode = traceparent === undefined ? undefined : openCallLabel(frame[2], traceparent);
    let result: unknown;
    try {
      result =
        currentNode === undefined
          ? this.invoke(frame[2], frame[3])
          : runInCall(currentNode, () => this.invoke(frame[2], frame[3]));
    } catch (error) {
      this.reply(false, error);
      return;
    }
    if (!isThenable(result)) {
      this.reply(true, result);
      return;
    }
    this.busy = true;
    Promise.resolve(result).then(
      (value) => this.replyLater(true, value),
      (error) => this.replyLater(false, error),
    );
  }

  /** Calls `method` of the interface (or the function interface) with `args`. */
  private invoke(method: string | null, args: unknown[]): unknown {
    const iface = this.definition.interface as unknown;
    if (typeof iface === "function") {
      return method === null ? iface(...args) : iface(method, ...args);
    }
    const fn = method === null ? undefined : (iface as Record<string, unknown>)[method];
    if (typeof fn !== "function" || !Object.hasOwn(iface as object, method as string)) {
      throw new TypeError(
        method === null
          ? "this worker's interface is a method map: call one of its methods"
          : `this worker has no method "${method}"`,
      );
    }
    return fn.apply(iface, args);
  }

  private replyLater(ok: boolean, value: unknown): void {
    this.reply(ok, value);
    this.busy = false;
    this.drain();
  }

  /** Sends a call's result or error, with its deferred log. */
  private reply(ok: boolean, value: unknown): void {
    this.running = false;
    if (currentNode !== undefined) closeCallLabel(currentNode, !ok, value);
    const meta = takeMeta();
    if (!ok) {
      this.channel.send(["er", meta, serializeError(value)]);
      return;
    }
    try {
      this.channel.send(["ok", meta, value]);
    } catch (error) {
      this.channel.send([
        "er",
        meta,
        serializeError(
          new SerializationError(`the result cannot be sent back: ${(error as Error).message}`),
        ),
      ]);
    }
  }

  /** Runs the definition's checkoutDone after a normal release; a failure ends the worker. */
  private runDone(): void {
    const hook = this.definition.checkoutDone;
    if (!hook) return;
    let result: unknown;
    try {
      result = hook();
    } catch (error) {
      this.failDone(error);
      return;
    }
    if (!isThenable(result)) return;
    this.busy = true;
    Promise.resolve(result).then(
      () => {
        this.busy = false;
        this.drain();
      },
      (error) => this.failDone(error),
    );
  }

  private failDone(error: unknown): void {
    console.error("bough/pool: checkoutDone failed in worker; exiting", error);
    this.exit(1);
  }
}

/**
 * Serves one remote client directly on its socket (NDJSON frames), in a worker
 * process that a worker server forked for that connection and handed the
 * socket to: no relay hop. Garbage on the socket is reported through
 * `onProtocolError` and closes the connection; the process exits when the
 * connection closes. `onActivity` hears the number of calls in flight after
 * every call and reply (the server's hung-worker and idle watch). Used by `serveWorkers`; you do not call it yourself.
 *
 * @example
 * ```ts
 * process.once("message", (_message, socket) => startSocketWorker(definition, socket, report));
 * ```
 */
export function startSocketWorker(
  definition: WorkerDefinition,
  socket: Socket,
  onProtocolError: (message: string, done: () => void) => void,
  maxFrameBytes?: number,
  onActivity?: (inflight: number) => void,
): void {
  const decoder = createFrameDecoder(maxFrameBytes);
  let inflight = 0;
  socket.setNoDelay?.(true);
  socket.on("error", () => {});
  socket.on("close", () => process.exit(0));
  startWorkerRuntime(
    definition,
    {
      send: (frame) => {
        if (!socket.destroyed) socket.write(encodeFrame(frame));
        if (frame[0] === "rd") onActivity?.(0);
        else if (frame[0] !== "by" && inflight > 0) onActivity?.(--inflight);
      },
      listen: (handler) => {
        socket.on("data", (chunk) => {
          let frames: unknown[];
          try {
            frames = decoder.push(chunk);
            for (let i = 0; i < frames.length; i++) {
              const frame = checkClientFrame(frames[i]);
              if (frame[0] === "do" && onActivity) onActivity(++inflight);
              handler(frame);
            }
          } catch (error) {
            socket.pause();
            onProtocolError((error as Error).message, () => socket.destroy());
          }
        });
      },
    },
    (code) => process.exit(code),
  );
}
