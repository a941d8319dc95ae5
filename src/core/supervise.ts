import type { Operation } from "effection";
import { type Backoff, backoffDelay } from "./backoff.js";
import { useClock } from "./clock.js";
import { SupervisorGaveUpError } from "./errors.js";

/** Options of {@link supervise}. */
export interface SuperviseOptions {
  /**
   * `"on-failure"` (default): restart only after a failure; a normal return
   * ends the supervisor with that value. `"always"`: restart after a normal
   * return too (for loops that should never end).
   */
  restart?: "always" | "on-failure";
  /** Delay before each restart. Default: 100 ms doubling to 30 s, ±20 % jitter. */
  backoff?: Backoff;
  /**
   * Give up, throwing {@link SupervisorGaveUpError}, when more than
   * `maxRestarts` restarts would happen within `withinMs`. Default 5 within
   * 60,000 ms.
   */
  intensity?: { maxRestarts: number; withinMs: number };
  /** Called before each restart with the error (or `undefined` after a normal return). */
  onRestart?: (error: unknown, restarts: number) => void;
}

/**
 * Runs the child made by `factory` and restarts it when it fails (or, with
 * `restart: "always"`, whenever it ends), sleeping an exponential backoff with
 * jitter between runs on the clock in context. Gives up with
 * {@link SupervisorGaveUpError} when restarts exceed the intensity. Halting the
 * supervisor halts the child; a halt is never treated as a failure.
 *
 * The backoff resets after the child has run for longer than the intensity
 * window without failing.
 *
 * @example
 * ```ts
 * yield* spawn(() =>
 *   supervise(() => consumeQueue(), {
 *     backoff: { initialMs: 500, maxMs: 10_000 },
 *     intensity: { maxRestarts: 10, withinMs: 60_000 },
 *     onRestart: (error) => console.warn("consumer restarting:", error),
 *   }),
 * );
 * ```
 */
export function* supervise<T>(
  factory: () => Operation<T>,
  options: SuperviseOptions = {},
): Operation<T> {
  const {
    restart = "on-failure",
    backoff,
    intensity = { maxRestarts: 5, withinMs: 60_000 },
    onRestart,
  } = options;
  if (restart !== "always" && restart !== "on-failure") {
    throw new TypeError(
      `supervise: restart must be "always" or "on-failure", got ${String(restart)}`,
    );
  }
  if (!(intensity.maxRestarts >= 0) || !(intensity.withinMs > 0)) {
    throw new TypeError("supervise: intensity needs maxRestarts >= 0 and withinMs > 0");
  }
  const clock = yield* useClock();
  const restarts: number[] = [];
  let total = 0;
  let streak = 0;
  for (;;) {
    const startedAt = clock.now();
    let error: unknown;
    try {
      const value = yield* factory();
      if (restart === "on-failure") return value;
    } catch (e) {
      error = e;
    }
    const now = clock.now();
    if (now - startedAt > intensity.withinMs) streak = 0;
    while (restarts.length > 0 && now - restarts[0] > intensity.withinMs) restarts.shift();
    if (restarts.length >= intensity.maxRestarts) {
      throw new SupervisorGaveUpError(error, total, intensity.withinMs);
    }
    restarts.push(now);
    total++;
    onRestart?.(error, total);
    yield* clock.sleep(backoffDelay(streak++, backoff));
  }
}
