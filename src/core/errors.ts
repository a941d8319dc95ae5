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
 *   if (error instanceof BoughError && error.code === "BOUGH_CORE_TIMEOUT") retryLater();
 *   else throw error;
 * }
 * ```
 */
export class BoughError extends Error {
  /** A stable, machine-readable code such as `"BOUGH_CORE_TIMEOUT"`. */
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
    super("BOUGH_CORE_TIMEOUT", message);
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
    super("BOUGH_CORE_SELECTOR_EMPTY", message);
  }
}

/**
 * Thrown by a selector's `add()` / `addGenerator()` once the scope that made
 * it has ended (its items were halted; nothing can be added any more).
 *
 * @example
 * ```ts
 * try {
 *   selector.add("late", work());
 * } catch (error) {
 *   if (error instanceof SelectorClosedError) console.log("too late: the owner has ended");
 * }
 * ```
 */
export class SelectorClosedError extends BoughError {
  override readonly name = "SelectorClosedError";

  constructor(message = "cannot add to a selector whose scope has ended") {
    super("BOUGH_CORE_SELECTOR_CLOSED", message);
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
      "BOUGH_CORE_SUPERVISOR_GAVE_UP",
      `supervisor gave up after ${restarts} restarts within ${withinMs} ms: ${describeError(lastError)}`,
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

/**
 * A one-line description of any thrown value, for messages: `name: message`
 * for an Error, `String(value)` for anything else. (It was `describe`, which
 * collided with every test runner's `describe`.)
 *
 * @example
 * ```ts
 * describeError(new TypeError("bad")); // "TypeError: bad"
 * describeError("nope"); // "nope"
 * ```
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * Thrown by `subscribe({ after })` and `next(after)` when the cursor can no
 * longer be resumed without a gap: the messages after it were trimmed from the
 * history (`reason: "trimmed"`), or the cursor is ahead of everything the
 * topic has ever held (`reason: "ahead"`, for example after the broker lost its
 * data). Resume from `resetTo` (the cursor just before the oldest retained
 * message, or `undefined` for "from now") and tell the client it missed
 * messages.
 *
 * @example
 * ```ts
 * try {
 *   sub = yield* hub.subscribe({ after: lastEventId });
 * } catch (error) {
 *   if (!(error instanceof CursorExpiredError)) throw error;
 *   yield* send({ event: "reset" });
 *   sub = yield* hub.subscribe({ after: error.resetTo });
 * }
 * ```
 */
export class CursorExpiredError extends BoughError {
  override readonly name = "CursorExpiredError";
  /** The cursor that could not be resumed. */
  readonly cursor: string;
  /** Why: its successors were trimmed, or it lies ahead of the topic. */
  readonly reason: "trimmed" | "ahead";
  /** A cursor to resume from instead (`undefined`: subscribe from now). */
  readonly resetTo: string | undefined;

  constructor(cursor: string, reason: "trimmed" | "ahead", resetTo: string | undefined) {
    super(
      "BOUGH_CORE_CURSOR_EXPIRED",
      reason === "trimmed"
        ? `cursor ${cursor} has expired: the messages after it are no longer retained`
        : `cursor ${cursor} is ahead of the topic (was its history lost?)`,
    );
    this.cursor = cursor;
    this.reason = reason;
    this.resetTo = resetTo;
  }
}

/**
 * Thrown by `subscribe({ after })` and `next(after)` when `after` is not a
 * cursor of this broker (memory cursors are decimal sequence numbers, Redis
 * cursors are stream entry ids such as `0-17`).
 *
 * @example
 * ```ts
 * try { yield* hub.next("yesterday"); } catch (e) { console.log(e instanceof InvalidCursorError); } // true
 * ```
 */
export class InvalidCursorError extends BoughError {
  override readonly name = "InvalidCursorError";
  /** The rejected cursor. */
  readonly cursor: string;

  constructor(cursor: string) {
    super("BOUGH_CORE_INVALID_CURSOR", `not a valid cursor: ${JSON.stringify(cursor)}`);
    this.cursor = cursor;
  }
}
