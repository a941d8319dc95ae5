import { randomBytes } from "node:crypto";
import { type Operation, race, resource, scoped, spawn, suspend, useScope } from "effection";
import { Redis } from "ioredis";
import { type Backoff, backoffDelay } from "../core/backoff.js";
import { type Clock, ClockContext, useClock } from "../core/clock.js";
import { TimeoutError } from "../core/errors.js";
import { retry } from "../core/retry.js";
import { createTimerSet, type TimerSet } from "../core/timer-set.js";
import { LeaseLostError } from "./errors.js";
import { untilWithin } from "./until-within.js";

/** Options of {@link useLeader}. */
export interface LeaderOptions {
  /** A Redis url, or an ioredis client to use (never closed by the lease). */
  redis: string | Redis;
  /** The key of the lease; every contender for the same role uses the same key. */
  key: string;
  /** Lease time in ms: a dead leader is replaced within `ttlMs` (+ one `retryEveryMs`). */
  ttlMs: number;
  /** How often the leader renews, in ms. Default `ttlMs / 3`. */
  renewEveryMs?: number;
  /** How often a follower tries to take the lease, in ms. Default `ttlMs / 4`. */
  retryEveryMs?: number;
  /**
   * How long before its lease can expire in Redis the leader stops, in ms:
   * room for clock-rate differences and for halting `lead`. Default
   * `min(ttlMs / 10, 250)`.
   */
  marginMs?: number;
  /** Backoff of the connection while Redis is down. Default `{ initialMs: 50, maxMs: 2000 }`. */
  backoff?: Backoff;
}

/** One term of leadership, given to the operation run by {@link useLeader}. */
export interface LeaderTerm {
  /**
   * A number from Redis, strictly greater than every token handed out before
   * on this key (even across Redis restarts). Pass it with every write that
   * only the leader may make, and have the store refuse writes that carry a
   * smaller token than one it has seen: that makes the writes safe even when a
   * paused process resumes believing it still leads.
   */
  readonly fencingToken: number;
  /** How many times this process became leader, this term included. */
  readonly term: number;
  /** True until the leader's own deadline passes or the lease is lost. */
  readonly valid: boolean;
  /** Ms left before this term's deadline (negative once it passed). */
  remainingMs(): number;
}

/** The state of one contender, from {@link useLeader}. */
export interface Leadership {
  /** True while this process holds the lease and runs the operation. */
  readonly isLeader: boolean;
  /** How many times this process became leader. */
  readonly terms: number;
  /** How many times it lost the lease while leading. */
  readonly lost: number;
  /** The token this process writes into the lease key. */
  readonly token: string;
  /** The fencing token of the current or last term (0 before the first). */
  readonly fencingToken: number;
  /** The last lease loss, if any. */
  readonly lastLoss: LeaseLostError | undefined;
}

// KEYS: lease, fence. ARGV: token, ttl.
// Grants no lease while the server has been up for less than a ttl (a restart
// without persistence forgets the lease, so the old holder may still be
// leading), takes the lease if free or already ours, and returns a fencing
// token that is strictly greater than the last one and never less than the
// server's time in ms (so that it keeps growing after a restart that lost the
// counter). -1: quarantined after a restart; 0: held by someone else.
const ACQUIRE = `
local up = tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)'))
-- uptime_in_seconds can overstate the uptime by up to 1 s
if (up - 1) * 1000 < tonumber(ARGV[2]) then return -1 end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif holder then
  return 0
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = math.max(tonumber(redis.call('GET', KEYS[2]) or '0') + 1, now)
redis.call('SET', KEYS[2], string.format('%.0f', n))
return n`;
// Renew and release only a lease that is still ours.
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * Contends for a lease in Redis for the calling scope, and runs `lead(term)`
 * while this process holds it, so that one process at a time runs a source
 * such as the ticker while the others only subscribe.
 *
 * Safety does not rest on the renewals: each term has a deadline on this
 * process's monotonic clock, taken from when the acquiring or renewing command
 * was *sent*, minus `marginMs`, so it passes before the key can expire in
 * Redis. At the deadline `lead` is halted. Inside `lead`, the clock in context
 * (`delay`, `ticker`, `useClock()`) checks the deadline after every wake-up, so
 * a timer that fires late (the process was paused, or its event loop blocked)
 * never resumes `lead` after the lease is gone; `lead` waits for its halt
 * instead. A resumed process can still run `finally` blocks and finish
 * promises it awaited: the term's `fencingToken` is what makes such late
 * writes safe downstream.
 *
 * A dead leader's lease expires, and a follower takes over within `ttlMs` plus
 * one `retryEveryMs`. When the scope ends the lease is released at once. A
 * Redis that has been up for less than `ttlMs` grants no lease (it may have
 * forgotten one when it restarted).
 *
 * @example
 * ```ts
 * import { useLeader } from "bough/hub/redis";
 *
 * const leadership = yield* useLeader({ redis: url, key: "ticker", ttlMs: 3_000 }, function* (term) {
 *   for (const tick of yield* each(ticker({ intervalMs: 2_000 }))) {
 *     yield* hub.publish({ tick, fence: term.fencingToken }); // one process publishes
 *     yield* each.next();
 *   }
 * });
 * console.log(leadership.isLeader);
 * ```
 */
export function useLeader(
  options: LeaderOptions,
  lead: (term: LeaderTerm) => Operation<void>,
): Operation<Leadership> {
  const { ttlMs } = options;
  const renewEveryMs = options.renewEveryMs ?? Math.max(1, Math.floor(ttlMs / 3));
  const retryEveryMs = options.retryEveryMs ?? Math.max(1, Math.floor(ttlMs / 4));
  const marginMs = options.marginMs ?? Math.min(ttlMs / 10, 250);
  const backoff = options.backoff ?? { initialMs: 50, maxMs: 2_000 };
  return resource(function* (provide) {
    if (!(ttlMs > 0) || !(renewEveryMs < ttlMs) || !(marginMs >= 0 && marginMs < ttlMs)) {
      throw new RangeError(
        `useLeader: need ttlMs > 0, renewEveryMs < ttlMs and 0 <= marginMs < ttlMs (ttlMs ${ttlMs}, renewEveryMs ${renewEveryMs}, marginMs ${marginMs})`,
      );
    }
    const owned = typeof options.redis === "string";
    const redis =
      typeof options.redis === "string"
        ? new Redis(options.redis, {
            maxRetriesPerRequest: null,
            retryStrategy: (times: number) => backoffDelay(times - 1, backoff),
            disconnectTimeout: 100,
          })
        : options.redis;
    const ignore = () => {};
    redis.on("error", ignore);
    const timers = createTimerSet(yield* useScope(), yield* useClock());
    const contender = new Contender(redis, timers, options.key, lead, {
      ttlMs,
      renewEveryMs,
      retryEveryMs,
      safeMs: ttlMs - marginMs,
      backoff,
    });
    const task = yield* spawn(() => contender.contend());
    try {
      yield* provide(contender.state);
    } finally {
      // Halt the led operation first (and wait for its cleanup), then release
      // the lease at once, so that a follower need not wait for it to expire.
      yield* task.halt();
      yield* contender.release();
      timers.close();
      redis.off("error", ignore);
      if (owned) redis.disconnect();
    }
  });
}

interface Timing {
  ttlMs: number;
  renewEveryMs: number;
  retryEveryMs: number;
  /** How long a term lasts after its acquiring or renewing command was sent: `ttlMs − marginMs`. */
  safeMs: number;
  backoff: Backoff;
}

/** One term's deadline, moved on by each renewal; `lost` once the term ended. */
interface TermState {
  deadline: number;
  lost: boolean;
}

/** One process contending for the lease: the steps of {@link useLeader}. */
class Contender {
  readonly state: Leadership & {
    isLeader: boolean;
    terms: number;
    lost: number;
    fencingToken: number;
    lastLoss: LeaseLostError | undefined;
  } = {
    isLeader: false,
    terms: 0,
    lost: 0,
    token: `${process.pid}:${randomBytes(8).toString("hex")}`,
    fencingToken: 0,
    lastLoss: undefined,
  };
  private readonly clock: Clock;
  private readonly fenceKey: string;

  constructor(
    private readonly redis: Redis,
    private readonly timers: TimerSet,
    private readonly key: string,
    private readonly lead: (term: LeaderTerm) => Operation<void>,
    private readonly timing: Timing,
  ) {
    this.clock = timers.clock;
    this.fenceKey = `${key}:fence`;
  }

  /** Takes the lease whenever it is free, and serves each term, until `lead` returns. */
  *contend(): Operation<void> {
    const { state } = this;
    for (;;) {
      const { acquired, sentAt } = yield* this.acquire();
      if (typeof acquired !== "number" || acquired <= 0) {
        yield* this.clock.sleep(this.timing.retryEveryMs);
        continue;
      }
      state.isLeader = true;
      state.terms++;
      state.fencingToken = acquired;
      try {
        yield* this.serve(acquired, sentAt);
        return; // lead() finished: give the role up
      } catch (error) {
        if (!(error instanceof LeaseLostError)) throw error;
        state.lost++;
        state.lastLoss = error;
      } finally {
        state.isLeader = false;
      }
    }
  }

  /**
   * One attempt to take the lease, retried with backoff while the connection
   * fails: the fencing token (a number > 0), 0 or -1 (not granted) or
   * `undefined` (no answer within `retryEveryMs`), and when it was sent.
   */
  private acquire(): Operation<{ acquired: unknown; sentAt: number }> {
    return retry(() => this.tryAcquire(), {
      attempts: Number.MAX_SAFE_INTEGER,
      backoff: this.timing.backoff,
    });
  }

  private *tryAcquire(): Operation<{ acquired: unknown; sentAt: number }> {
    const { ttlMs, retryEveryMs } = this.timing;
    const sentAt = this.clock.now();
    const acquired = yield* this.command(
      retryEveryMs,
      this.redis.eval(ACQUIRE, 2, this.key, this.fenceKey, this.state.token, ttlMs),
    );
    return { acquired, sentAt };
  }

  /** Runs `lead` for one term, on a clock that never resumes it past the term's deadline. */
  private *serve(fencingToken: number, acquiredAt: number): Operation<void> {
    const { clock, lead } = this;
    const term: TermState = { deadline: acquiredAt + this.timing.safeMs, lost: false };
    const view: LeaderTerm = {
      fencingToken,
      term: this.state.terms,
      get valid() {
        return !term.lost && clock.now() < term.deadline;
      },
      remainingMs: () => term.deadline - clock.now(),
    };
    // A timer of `lead` that fires after the deadline (a paused process, a
    // blocked event loop) does not resume it: `keep` is about to halt it.
    function* hold(): Operation<void> {
      if (!view.valid) yield* suspend();
    }
    const fenced: Clock = {
      now: () => clock.now(),
      *sleep(ms) {
        yield* clock.sleep(ms);
        yield* hold();
      },
      *sleepUntil(time) {
        yield* clock.sleepUntil(time);
        yield* hold();
      },
    };
    try {
      yield* race([
        scoped(function* () {
          yield* ClockContext.set(fenced);
          yield* lead(view);
        }),
        this.keep(term, acquiredAt),
      ]);
    } finally {
      term.lost = true;
    }
  }

  /** Keeps the term alive until its deadline; throws when it ends. */
  private *keep(term: TermState, acquiredAt: number): Operation<never> {
    const { clock, key, redis } = this;
    const { renewEveryMs, safeMs, ttlMs } = this.timing;
    let lastSent = acquiredAt;
    for (;;) {
      yield* clock.sleepUntil(Math.min(lastSent + renewEveryMs, term.deadline));
      const sentAt = clock.now();
      if (sentAt >= term.deadline) {
        throw new LeaseLostError(key, `its deadline passed (not renewed within ${safeMs} ms)`);
      }
      lastSent = sentAt;
      let renewed: unknown;
      try {
        renewed = yield* this.command(
          term.deadline - sentAt,
          redis.eval(RENEW, 1, key, this.state.token, ttlMs),
        );
      } catch {
        renewed = undefined; // connection trouble: try again until the deadline
      }
      if (renewed === 1) term.deadline = Math.max(term.deadline, sentAt + safeMs);
      else if (renewed === 0) throw new LeaseLostError(key, "another process holds the lease");
    }
  }

  /** Gives the lease up at once, if it is still ours (otherwise it expires by itself). */
  *release(): Operation<void> {
    try {
      yield* this.command(
        Math.min(this.timing.ttlMs, 1_000),
        this.redis.eval(RELEASE, 1, this.key, this.state.token),
      );
    } catch {
      // the lease expires by itself
    }
  }

  /** Sends a command, giving up (`undefined`) after `ms`; the command may still run later. */
  private *command<T>(ms: number, promise: Promise<T>): Operation<T | undefined> {
    const bound = Math.max(1, ms);
    try {
      return yield* untilWithin(this.timers, bound, promise, () => new TimeoutError(bound));
    } catch (error) {
      if (error instanceof TimeoutError) return undefined;
      throw error;
    }
  }
}
