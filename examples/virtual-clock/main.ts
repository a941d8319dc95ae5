/**
 * The virtual clock: a supervisor with a 30-second backoff and a 5-minute
 * timeout, run through one hour of virtual time in a few milliseconds.
 *
 *   npx tsx examples/virtual-clock/main.ts (--help)
 */
import { run, spawn } from "effection";
import { ClockContext, delay, supervise, TimeoutError, withTimeout } from "../../src/index.js";
import { createVirtualClock } from "../../src/testing/index.js";
import { defineTool, parseFlags } from "../cli.js";

parseFlags(
  defineTool(
    import.meta.url,
    `usage: npx tsx examples/virtual-clock/main.ts

A supervisor with a 30-second backoff and a 5-minute timeout, run through one hour of
virtual time in a few milliseconds. No flags.

  -h, --help   print this help`,
  ),
  {},
);

const clock = createVirtualClock();
const events: string[] = [];
const at = () => `${(clock.now() / 1000).toFixed(0).padStart(4)} s`;

const t0 = performance.now();
const task = run(function* () {
  yield* ClockContext.set(clock); // every bough delay below follows the virtual clock
  let attempt = 0;
  yield* spawn(() =>
    supervise(
      function* () {
        attempt++;
        events.push(`${at()}  attempt ${attempt} starts`);
        yield* delay(60_000);
        throw new Error(`attempt ${attempt} failed after a minute`);
      },
      {
        backoff: { initialMs: 30_000, factor: 2, maxMs: 600_000, jitter: 0 },
        intensity: { maxRestarts: 100, withinMs: 3_600_000 },
        onRestart: (error) => events.push(`${at()}  ${(error as Error).message}; backing off`),
      },
    ),
  );
  try {
    yield* withTimeout(900_000, delay(3_600_000));
  } catch (error) {
    if (error instanceof TimeoutError) events.push(`${at()}  timed out after ${error.ms / 1000} s`);
  }
});
await clock.advance(3_600_000);
await task;
for (const event of events) console.log(event);
console.log(`\none virtual hour took ${(performance.now() - t0).toFixed(1)} ms of real time`);
