/**
 * The base class of every error bough throws. Each subclass has a stable
 * `name` and `code` that callers can match on; messages may improve over time,
 * codes do not.
 *
 * @example
 * ```ts
 * try {
 *   yield* withTimeout(100, fetchThing());
 * } catch (error) {
 *   if (error instanceof BoughError && error.code === "BOUGH_TIMEOUT") retryLater();
 *   else throw error;
 * }
 * ```
 */
export class BoughError extends Error {
  /** A stable, machine-readable code such as `"BOUGH_TIMEOUT"`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * Thrown by {@link withTimeout} (and by anything built on it) when an
 * operation does not finish within its time limit.
 *
 * @example
 * ```ts
 * try {
 *   yield* withTimeout(50, sleep(1000));
 * } catch (error) {
 *   if (error instanceof TimeoutError) console.log(`gave up after ${error.ms} ms`);
 * }
 * ```
 */
export class TimeoutError extends BoughError {
  override readonly name = "TimeoutError";
  /** The limit, in milliseconds, that was exceeded. */
  readonly ms: number;

  constructor(ms: number, message = `operation timed out after ${ms} ms`) {
    super("BOUGH_TIMEOUT", message);
    this.ms = ms;
  }
}

/**
 * Thrown by `select()` and `run()` of a {@link useSelector | selector} that has
 * no pending items, no finished items left to deliver and no generator that can
 * refill it.
 *
 * @example
 * ```ts
 * const selector = yield* useSelector();
 * try {
 *   yield* selector.select();
 * } catch (error) {
 *   console.log(error instanceof SelectorEmptyError); // true
 * }
 * ```
 */
export class SelectorEmptyError extends BoughError {
  override readonly name = "SelectorEmptyError";

  constructor(message = "select() on an empty selector: nothing is pending") {
    super("BOUGH_SELECTOR_EMPTY", message);
  }
}

/**
 * Thrown by {@link supervise} when its child failed more often than the
 * restart intensity allows. `cause` (and `lastError`) is the child's last error.
 *
 * @example
 * ```ts
 * try {
 *   yield* supervise(() => flakyWorker(), { intensity: { maxRestarts: 3, withinMs: 10_000 } });
 * } catch (error) {
 *   if (error instanceof SupervisorGaveUpError) console.error("last error:", error.lastError);
 * }
 * ```
 */
export class SupervisorGaveUpError extends BoughError {
  override readonly name = "SupervisorGaveUpError";
  /** The error of the last failed run of the child. */
  readonly lastError: unknown;
  /** How many times the child was restarted before giving up. */
  readonly restarts: number;

  constructor(lastError: unknown, restarts: number, withinMs: number) {
    super(
      "BOUGH_SUPERVISOR_GAVE_UP",
      `supervisor gave up after ${restarts} restarts within ${withinMs} ms: ${describe(lastError)}`,
      { cause: lastError },
    );
    this.lastError = lastError;
    this.restarts = restarts;
  }
}

/**
 * True when `error` is the error effection uses to report that a task was
 * halted (rather than failing). Use it to tell cancellation apart from failure
 * when you await a task from outside its scope.
 *
 * @example
 * ```ts
 * const task = scope.run(longJob);
 * await task.halt();
 * try { await task; } catch (error) { console.log(isHalted(error)); } // true
 * ```
 */
export function isHalted(error: unknown): boolean {
  return error instanceof Error && error.message === "halted" && !(error instanceof BoughError);
}

/** A one-line description of any thrown value, for messages. */
export function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
