import type { Operation, Result } from "effection";
import { EffectOperation, OK } from "./effect-operation.js";

/**
 * Resumes on the next turn of the event loop (`setImmediate`), after the I/O
 * callbacks and promises already pending have run; halting it cancels the
 * immediate.
 *
 * Use it in a long synchronous stretch, above all a loop that adds many
 * items: `add()` is a plain call, so a loop of 100,000 adds runs to its end
 * before any item's promise or timer can settle, and all 100,000 wait at once
 * (about 590 bytes each, every one copied twice by the young-generation
 * collector). Yielding every few thousand adds lets each slice settle before
 * the next starts, as Effect's fibers do by themselves every 2,048
 * operations: in `bench/core.ts` it makes such a loop 2–3× cheaper in CPU
 * (`npm run bench -- core`), and the event loop serves other work meanwhile.
 * Inside bough, `select()` yields this way so that items settled by the same
 * turn's I/O are collected together, and the Redis broker's reader before it
 * blocks again, so that publishes the same turn resumed reach Redis first.
 *
 * @example Add 100,000 items in slices of 2,048
 * ```ts
 * import { awaitPromise, useSelector, yieldToEventLoop } from "bough";
 *
 * const selector = yield* useSelector<number, Row>();
 * for (let i = 0; i < ids.length; i++) {
 *   selector.add(i, awaitPromise(load(ids[i])));
 *   if ((i + 1) % 2048 === 0) yield* yieldToEventLoop();
 * }
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
