import type { Socket } from "node:net";
import { threadId } from "node:worker_threads";
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

function active(): DeferredLog | undefined {
  if (!inCall) return undefined;
  current ??= createDeferredLog();
  return current;
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
 * every transport. Outside a call: an empty object.
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
  const queue: ClientFrame[] = [];
  let busy = true;
  // True from a call's start until its reply (and while checkoutDone runs).
  let running = false;
  // A worker that exits on purpose says so first, and whether a call was
  // running: a call that reached it after that never started.
  const realExit = process.exit;
  process.exit = ((code?: number | string | null) => {
    try {
      channel.send(["by", { inCall: running }]);
    } catch {
      // the channel is gone already
    }
    return realExit.call(process, code as number);
  }) as typeof process.exit;
  let setupError: SerializedError | undefined;
  const iface = definition.interface as unknown;

  const reply = (ok: boolean, value: unknown) => {
    running = false;
    const meta = takeMeta();
    if (ok) {
      try {
        channel.send(["ok", meta, value]);
      } catch (error) {
        channel.send([
          "er",
          meta,
          serializeError(
            new SerializationError(`the result cannot be sent back: ${(error as Error).message}`),
          ),
        ]);
      }
    } else {
      channel.send(["er", meta, serializeError(value)]);
    }
  };

  const settle = (result: Promise<unknown>) => {
    busy = true;
    result.then(
      (value) => {
        reply(true, value);
        busy = false;
        drain();
      },
      (error) => {
        reply(false, error);
        busy = false;
        drain();
      },
    );
  };

  const runCall = (frame: DoFrame) => {
    if (setupError) {
      channel.send(["er", EMPTY, setupError]);
      return;
    }
    const method = frame[2];
    const args = frame[3];
    currentMeta = frame[1];
    inCall = true;
    running = true;
    let result: unknown;
    try {
      if (typeof iface === "function") {
        result = method === null ? iface(...args) : iface(method, ...args);
      } else {
        const fn = method === null ? undefined : (iface as Record<string, unknown>)[method];
        if (typeof fn !== "function" || !Object.hasOwn(iface as object, method as string)) {
          throw new TypeError(
            method === null
              ? "this worker's interface is a method map: call one of its methods"
              : `this worker has no method "${method}"`,
          );
        }
        result = fn.apply(iface, args);
      }
    } catch (error) {
      reply(false, error);
      return;
    }
    if (result !== null && typeof (result as PromiseLike<unknown>)?.then === "function") {
      settle(Promise.resolve(result));
    } else {
      reply(true, result);
    }
  };

  const runDone = () => {
    const hook = definition.checkoutDone;
    if (!hook) return;
    let result: unknown;
    try {
      result = hook();
    } catch (error) {
      failDone(error);
      return;
    }
    if (result !== null && typeof (result as PromiseLike<unknown>)?.then === "function") {
      busy = true;
      Promise.resolve(result).then(
        () => {
          busy = false;
          drain();
        },
        (error) => failDone(error),
      );
    }
  };

  const failDone = (error: unknown) => {
    console.error("bough/pool: checkoutDone failed in worker; exiting", error);
    exit(1);
  };

  const handle = (frame: ClientFrame) => {
    if (frame[0] === "do") runCall(frame);
    else if (frame[0] === "dn") runDone();
  };

  const drain = () => {
    while (!busy && queue.length > 0) handle(queue.shift()!);
  };

  channel.listen((frame) => {
    if (busy || queue.length > 0) queue.push(frame);
    else handle(frame);
  });

  const ready = () => {
    channel.send([
      "rd",
      {
        pid: process.pid,
        threadId,
        ...(definition.checkoutDone ? { done: true } : {}),
        ...(setupError ? { setup: setupError } : {}),
      },
    ]);
    busy = false;
    drain();
  };
  let setupResult: unknown;
  try {
    setupResult = definition.setup?.();
  } catch (error) {
    setupError = serializeError(error);
  }
  if (setupResult !== null && typeof (setupResult as PromiseLike<unknown>)?.then === "function") {
    Promise.resolve(setupResult).then(ready, (error) => {
      setupError = serializeError(error);
      ready();
    });
  } else {
    ready();
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
