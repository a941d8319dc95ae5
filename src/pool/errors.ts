import { BoughError, TimeoutError } from "../core/errors.js";

export { TimeoutError };

/** A thrown value as it travels between a worker and its pool. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  [property: string]: unknown;
}

/**
 * The worker's interface threw (or rejected). The error keeps what the worker
 * threw: `remoteName`, `message`, `stack` and every own property (also
 * available together as `remote`). The worker stays alive; the checkout can go
 * on calling it, but on release the worker is replaced (unless the pool was
 * made with `dontReforkAfterError`).
 *
 * @example
 * ```ts
 * try {
 *   yield* pool.run("parse", "{not json");
 * } catch (error) {
 *   if (error instanceof TaskError) console.log(error.remoteName, error.message); // "SyntaxError", "…"
 * }
 * ```
 */
export class TaskError extends BoughError {
  override readonly name = "TaskError";
  /** The `name` of the error the worker threw, such as `"SyntaxError"`. */
  readonly remoteName: string;
  /** Everything the worker sent about the error: name, message, stack and own properties. */
  readonly remote: SerializedError;
  /**
   * The call that failed, as `"CLIENT NAME -> method"` (the pool's `name`, or
   * `"ANONYMOUS CLIENT"`); also the last line of `stack`. Undefined for an
   * error not made by a call.
   */
  readonly call: string | undefined;
  [property: string]: unknown;

  constructor(remote: SerializedError, call?: string) {
    super("BOUGH_POOL_TASK_ERROR", remote.message);
    this.remoteName = remote.name;
    this.remote = remote;
    this.call = call;
    for (const [key, value] of Object.entries(remote)) {
      if (!RESERVED.has(key)) this[key] = value;
    }
    if (typeof remote.stack === "string") this.stack = remote.stack;
    if (call !== undefined)
      this.stack = `${this.stack ?? `${this.name}: ${this.message}`}\n    at ${call} (bough/pool)`;
  }
}

const RESERVED = new Set([
  "name",
  "message",
  "stack",
  "code",
  "remote",
  "remoteName",
  "cause",
  "call",
]);

/**
 * The worker died (exited, was killed from outside, or its connection broke)
 * while a checkout held it. Fatal for the checkout: every later call fails with
 * {@link CheckoutFatalError}.
 *
 * @example
 * ```ts
 * try {
 *   yield* checkout.call("exitMidCall");
 * } catch (error) {
 *   if (error instanceof WorkerCrashedError) console.log(error.exitCode);
 * }
 * ```
 */
export class WorkerCrashedError extends BoughError {
  override readonly name: string = "WorkerCrashedError";
  /** The exit code of the worker thread or process, when known. */
  readonly exitCode: number | null;

  constructor(message: string, exitCode: number | null = null, options?: { cause?: unknown }) {
    super("BOUGH_POOL_WORKER_CRASHED", message, options);
    this.exitCode = exitCode;
  }
}

/**
 * The worker went past its `resourceLimits` (a thread's heap limit) and was
 * stopped by V8. A {@link WorkerCrashedError}, so code that handles crashes
 * handles this too; the pool replaces the worker.
 *
 * @example
 * ```ts
 * try {
 *   yield* pool.run("render", hugeDocument);
 * } catch (error) {
 *   if (error instanceof WorkerResourceLimitError) console.warn("document too large to render");
 * }
 * ```
 */
export class WorkerResourceLimitError extends WorkerCrashedError {
  override readonly name = "WorkerResourceLimitError";
  override readonly code: string = "BOUGH_POOL_RESOURCE_LIMIT";
}

/**
 * The worker's `setup` threw, so the worker cannot serve. The checkout that got
 * it fails (fatally) and the worker is replaced for the next checkout.
 *
 * @example
 * ```ts
 * try {
 *   yield* pool.run("query", "select 1");
 * } catch (error) {
 *   if (error instanceof SetupError) console.error("worker setup failed:", error.remote.message);
 * }
 * ```
 */
export class SetupError extends BoughError {
  override readonly name = "SetupError";
  /** The error `setup` threw, as the worker sent it. */
  readonly remote: SerializedError;

  constructor(remote: SerializedError) {
    super("BOUGH_POOL_SETUP_FAILED", `worker setup failed: ${remote.name}: ${remote.message}`);
    this.remote = remote;
  }
}

/**
 * A checkout that has seen a fatal error (hung-worker timeout, crashed worker,
 * failed setup, lost connection) fails every later call at once with this
 * error; `cause` is the original fatal error.
 *
 * @example
 * ```ts
 * try {
 *   yield* checkout.call("next");
 * } catch (error) {
 *   if (error instanceof CheckoutFatalError) console.log("checkout is dead:", error.cause);
 * }
 * ```
 */
export class CheckoutFatalError extends BoughError {
  override readonly name = "CheckoutFatalError";

  constructor(cause: unknown) {
    super(
      "BOUGH_POOL_CHECKOUT_FATAL",
      `this checkout already failed fatally: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`,
      { cause },
    );
  }
}

/**
 * A worker could not be started: the file is missing, does not load, does not
 * call `defineWorker`, or exited before it was ready.
 *
 * @example
 * ```ts
 * try {
 *   yield* pool.run("x");
 * } catch (error) {
 *   if (error instanceof SpawnError) console.error(error.message);
 * }
 * ```
 */
export class SpawnError extends BoughError {
  override readonly name: string = "SpawnError";

  constructor(message: string, options?: { cause?: unknown }) {
    super("BOUGH_POOL_SPAWN_FAILED", message, options);
  }
}

/**
 * The arguments of a call (or the result of a worker) cannot be sent: a
 * function, a symbol, a cycle over JSON, a BigInt over JSON… Thrown at the call
 * site; the checkout and its worker are not affected.
 *
 * @example
 * ```ts
 * try {
 *   yield* checkout.call("store", { callback: () => {} });
 * } catch (error) {
 *   if (error instanceof SerializationError) console.log(error.message);
 * }
 * ```
 */
export class SerializationError extends BoughError {
  override readonly name = "SerializationError";

  constructor(message: string, options?: { cause?: unknown }) {
    super("BOUGH_POOL_UNSERIALIZABLE", message, options);
  }

  /** The error for a `frame` that `error` kept from being sent to `destination` ("a worker thread"…). */
  static forFrame(
    frame: readonly [string, unknown, ...unknown[]],
    destination: string,
    error: unknown,
  ): SerializationError {
    const what = frame[0] === "do" ? `the arguments of "${frame[2] ?? "(call)"}"` : "a frame";
    return new SerializationError(
      `cannot send ${what} to ${destination}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * A worker server refused the connection: `reason` `"busy"` (its
 * `maxConnections` or `maxWorkers` is reached; the pool retries until the
 * checkout's timeout, as AnyEvent::Task clients do) or `"unauthorized"` (the
 * pool's `token` is wrong or missing; not retried). Also what the server
 * reports through `onRefused`.
 *
 * @example
 * ```ts
 * try {
 *   yield* pool.run("hash", "secret");
 * } catch (error) {
 *   if (error instanceof ServerRefusedError && error.reason === "unauthorized") rotateToken();
 * }
 * ```
 */
export class ServerRefusedError extends BoughError {
  override readonly name = "ServerRefusedError";
  /** Why the server refused. */
  readonly reason: "busy" | "unauthorized";
  /** True for `"busy"`: the pool tries again after `retryDelayMs` (backing off). */
  readonly retryable: boolean;

  constructor(reason: "busy" | "unauthorized", message: string) {
    super("BOUGH_POOL_REFUSED", `the worker server refused the connection (${reason}): ${message}`);
    this.reason = reason;
    this.retryable = reason === "busy";
  }
}

/**
 * Bytes on a pool socket that are not a valid frame (not JSON, not an array,
 * unknown frame type, over the size limit). The connection that sent them is
 * closed; nothing else is affected.
 *
 * @example
 * ```ts
 * yield* serveWorkers({
 *   listen: { path: "/tmp/pool.sock" },
 *   worker: "./worker.js",
 *   onProtocolError: (error: ProtocolError) => console.warn(error.message),
 * });
 * ```
 */
export class ProtocolError extends BoughError {
  override readonly name = "ProtocolError";

  constructor(message: string) {
    super("BOUGH_POOL_PROTOCOL", message);
  }
}

/**
 * Turns anything a worker threw into a plain object that survives structured
 * clone and JSON: name, message, stack and own enumerable properties.
 *
 * @example
 * ```ts
 * const wire = serializeError(new RangeError("too big"));
 * console.log(wire.name); // "RangeError"
 * ```
 */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const out: SerializedError = { name: error.name, message: error.message, stack: error.stack };
    for (const key of Object.keys(error)) {
      if (key === "name" || key === "message" || key === "stack") continue;
      const value = (error as unknown as Record<string, unknown>)[key];
      out[key] = safeValue(value);
    }
    return out;
  }
  return { name: "Error", message: String(error), value: safeValue(error) };
}

function safeValue(value: unknown): unknown {
  if (value instanceof Error) return serializeError(value);
  if (typeof value === "function" || typeof value === "symbol") return String(value);
  try {
    JSON.stringify(value);
    return value;
  } catch {
    return String(value);
  }
}
