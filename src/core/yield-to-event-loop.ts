import type { Operation, Result } from "effection";
import { EffectOperation, OK } from "./effect-operation.js";

/**
 * Resumes on the next turn of the event loop (`setImmediate`), after the I/O
 * callbacks and promises already pending have run; halting it cancels the
 * immediate. The selector's `select()` yields this way so that items settled
 * by the same turn's I/O are collected together; the Redis broker's reader
 * yields this way before it blocks again, so that publishes the same turn
 * resumed reach Redis first. @internal
 *
 * @example
 * ```ts
 * yield* yieldToEventLoop(); // every socket event of this turn has been handled
 * ```
 */
export function yieldToEventLoop(): Operation<void> {
  return new YieldToEventLoop();
}

// An effect object rather than effection's action(): the Redis reader yields
// once per XREAD, and an action makes a handful of closures each time.
class YieldToEventLoop extends EffectOperation<void> {
  get description(): string {
    return "yield to the event loop";
  }

  enter(
    resolve: (result: Result<void>) => void,
  ): (didExit: (result: Result<void>) => void) => void {
    const handle = setImmediate(resolve, OK);
    return (didExit) => {
      clearImmediate(handle);
      didExit(OK);
    };
  }

  protected again(): YieldToEventLoop {
    return new YieldToEventLoop();
  }
}
