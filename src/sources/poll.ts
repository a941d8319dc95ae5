import { type Operation, race, resource, type Stream, type Subscription, spawn } from "effection";
import { useClock } from "../core/clock.js";
import { usePanel } from "../core/panels.js";
import { createWakeCell } from "../core/wake-cell.js";
import { checkInterval, show } from "./errors.js";

/** Why the consumer of a {@link poll} stream should run its job now. */
export type PollReason = "timer" | "kick";

/** Options of {@link poll}. */
export interface PollOptions {
  /**
   * Milliseconds of quiet after a run before the next `"timer"` run; a finite
   * number above 0. The timer restarts each time the consumer asks for the next
   * item, that is when its job has finished.
   */
  intervalMs: number;
  /**
   * Any stream whose items mean "there is work now": a UDP socket's
   * `messages`, an effection `Signal` fed from a callback (`createSignal()`),
   * a `Channel`, a hub subscription. The poll subscribes to it for as long as
   * the poll's own subscription lives. Its values are ignored; its end stops
   * the kicks (the timer goes on); its failure fails the poll.
   */
  kick?: Stream<unknown, unknown>;
  /** Deliver a first `"timer"` at once instead of after `intervalMs`. Default `false`. */
  immediate?: boolean;
}

/**
 * The poll + kick-start pattern: a stream that says when to run a job, either
 * because `interval` passed without work (`"timer"`) or because a kick arrived
 * (`"kick"`). Poll rarely, react at once, and still work when a kick is lost.
 *
 * The consumer runs its job for each item and asks for the next item when the
 * job is done; that request is how the poll knows the job finished:
 * - kicks that arrive while the job runs coalesce into exactly one more run,
 *   delivered as soon as the consumer asks (however many kicks came);
 * - a kick or timer that came before a run started is covered by that run;
 * - the timer restarts after every run, so a kicked consumer is not also
 *   polled right after;
 * - the job never runs twice at once, since items are only ever handed out on
 *   request.
 *
 * The kick stream is subscribed when the poll is, in the same scope, so
 * nothing outlives the consumer. An invalid `intervalMs` or `kick` throws a
 * `TypeError` when `poll()` is called.
 *
 * While subscribed, the inspector (`bough/inspect`) shows it as a `source`
 * panel named `poll every <interval> ms`: `intervalMs`, `runs` handed out
 * (`timer` and `kick` by reason), `kicks` received (those beyond `kick`
 * runs were coalesced) and `waiting` (true while the consumer waits for its
 * next run, false while its job runs).
 *
 * @example
 * ```ts
 * import { each, main } from "effection";
 * import { poll, useUdpSocket } from "bough/sources";
 *
 * await main(function* () {
 *   const udp = yield* useUdpSocket({ port: 8001 });
 *   // drain the queue every minute, or at once when a datagram says there is work
 *   for (const reason of yield* each(poll({ intervalMs: 60_000, kick: udp.messages }))) {
 *     yield* drainMessageQueue(reason);
 *     yield* each.next();
 *   }
 * });
 * ```
 *
 * @example
 * ```ts
 * // kicked from a plain callback through an effection signal
 * const kicks = createSignal<void, never>();
 * emitter.on("inserted", () => kicks.send());
 * const items = yield* poll({ intervalMs: 5_000, kick: kicks });
 * for (;;) {
 *   const { value: reason } = yield* items.next();
 *   yield* work(reason);
 * }
 * ```
 */
export function poll(options: PollOptions): Stream<PollReason, never> {
  const { intervalMs: interval, kick, immediate = false } = options ?? {};
  checkInterval("poll", interval);
  if (kick !== undefined && !isOperation(kick)) {
    throw new TypeError(`poll: kick must be an effection Stream, got ${show(kick)}`);
  }
  return resource(function* (provide) {
    const clock = yield* useClock();
    // a kick that arrives while nobody waits is kept: the next run covers it
    const kicked = createWakeCell();
    let first = immediate;
    // the panel's counters: plain fields, read only when somebody looks
    const counts = { timer: 0, kick: 0, kicks: 0, waiting: false };
    yield* usePanel("source", `poll every ${interval} ms`, () => ({
      intervalMs: interval,
      runs: counts.timer + counts.kick,
      timer: counts.timer,
      kick: counts.kick,
      kicks: counts.kicks,
      waiting: counts.waiting,
    }));

    if (kick) {
      const kicks = yield* kick;
      yield* spawn(function* () {
        for (let item = yield* kicks.next(); !item.done; item = yield* kicks.next()) {
          counts.kicks++;
          kicked.signal();
        }
      });
    }

    const nextKick = function* (): Operation<PollReason> {
      yield* kicked.wait();
      return "kick";
    };
    const nextTimer = function* (): Operation<PollReason> {
      yield* clock.sleep(interval);
      return "timer";
    };

    const subscription: Subscription<PollReason, never> = {
      *next() {
        let reason: PollReason;
        counts.waiting = true;
        if (first) {
          first = false;
          reason = "timer";
        } else if (kicked.signalled) {
          reason = "kick";
        } else if (kick) {
          reason = yield* race([nextTimer(), nextKick()]);
        } else {
          reason = yield* nextTimer();
        }
        // whatever arrived before this run starts is covered by it
        kicked.signalled = false;
        counts.waiting = false;
        counts[reason]++;
        return { done: false, value: reason };
      },
    };
    yield* provide(subscription);
  });
}

function isOperation(value: unknown): value is Stream<unknown, unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function"
  );
}
