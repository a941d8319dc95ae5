import { randomBytes } from "node:crypto";
import { type Operation, race, resource, spawn, until } from "effection";
import { Redis } from "ioredis";
import { type Backoff, backoffDelay } from "../core/backoff.js";
import { useClock } from "../core/clock.js";
import { TimeoutError } from "../core/errors.js";
import { withTimeout } from "../core/timeout.js";
import { LeaseLostError } from "./errors.js";

/** Options of {@link useLeader}. */
export interface LeaderOptions {
  /** A Redis url, or an ioredis client to use (never closed by the lease). */
  redis: string | Redis;
  /** The key of the lease; every contender for the same role uses the same key. */
  key: string;
  /** Lease time in ms: a dead leader is replaced within `ttl` (+ one `retryEvery`). */
  ttl: number;
  /** How often the leader renews, in ms. Default `ttl / 3`. */
  renewEvery?: number;
  /** How often a follower tries to take the lease, in ms. Default `ttl / 4`. */
  retryEvery?: number;
  /** Backoff of the connection while Redis is down. Default `{ initialMs: 50, maxMs: 2000 }`. */
  backoff?: Backoff;
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
  /** The last lease loss, if any. */
  readonly lastLoss: LeaseLostError | undefined;
}

// Renew and release only a lease that is still ours.
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * Contends for a lease in Redis (`SET key token NX PX ttl`) for the calling
 * scope, and runs `lead()` while this process holds it, so that exactly one
 * process at a time runs a source such as the ticker while the others only
 * subscribe. The leader renews the lease with a compare-and-`PEXPIRE`; when
 * a renewal fails (another process holds the key, or no renewal succeeded
 * within `ttl`) `lead()` is halted before the lease can have passed to
 * someone else, and this process contends again. A dead leader's lease
 * expires, and a follower takes over within `ttl` plus one `retryEvery`.
 * When the scope ends the lease is released at once.
 *
 * @example
 * ```ts
 * import { useLeader } from "bough/hub/redis";
 *
 * const leadership = yield* useLeader({ redis: url, key: "ticker", ttl: 3_000 }, function* () {
 *   for (const tick of yield* each(ticker({ interval: 2_000 }))) {
 *     yield* hub.publish(tick); // every process subscribes, one publishes
 *     yield* each.next();
 *   }
 * });
 * console.log(leadership.isLeader);
 * ```
 */
export function useLeader(
  options: LeaderOptions,
  lead: () => Operation<void>,
): Operation<Leadership> {
  const { key, ttl } = options;
  const renewEvery = options.renewEvery ?? Math.max(1, Math.floor(ttl / 3));
  const retryEvery = options.retryEvery ?? Math.max(1, Math.floor(ttl / 4));
  const backoff = options.backoff ?? { initialMs: 50, maxMs: 2_000 };
  return resource(function* (provide) {
    if (!(ttl > 0) || !(renewEvery < ttl)) {
      throw new RangeError(
        `useLeader: need ttl > 0 and renewEvery < ttl (ttl ${ttl}, renewEvery ${renewEvery})`,
      );
    }
    const clock = yield* useClock();
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
    const state = {
      isLeader: false,
      terms: 0,
      lost: 0,
      token: `${process.pid}:${randomBytes(8).toString("hex")}`,
      lastLoss: undefined as LeaseLostError | undefined,
    };

    /** Sends a command, giving up after `ms` (the command may still run later). */
    function* command<T>(ms: number, promise: Promise<T>): Operation<T | undefined> {
      try {
        return yield* withTimeout(Math.max(1, ms), until(promise));
      } catch (error) {
        if (error instanceof TimeoutError) return undefined;
        throw error;
      }
    }

    // Stop leading a little before the lease can expire in Redis, so that a
    // late timer on a busy machine never lets two leaders overlap.
    const safeTtl = ttl - Math.min(ttl / 10, 250);

    function* renew(acquiredAt: number): Operation<never> {
      let deadline = acquiredAt + safeTtl;
      for (;;) {
        yield* clock.sleep(Math.min(renewEvery, Math.max(0, deadline - clock.now())));
        const sentAt = clock.now();
        if (sentAt >= deadline) throw new LeaseLostError(key, `not renewed within ${safeTtl} ms`);
        let renewed: unknown;
        try {
          renewed = yield* command(deadline - sentAt, redis.eval(RENEW, 1, key, state.token, ttl));
        } catch {
          renewed = undefined; // connection trouble: try again until the deadline
        }
        if (renewed === 1) deadline = sentAt + safeTtl;
        else if (renewed === 0) throw new LeaseLostError(key, "another process holds the lease");
      }
    }

    const contender = yield* spawn(function* () {
      let attempt = 0;
      for (;;) {
        const sentAt = clock.now();
        let acquired: unknown;
        try {
          acquired = yield* command(retryEvery, redis.set(key, state.token, "PX", ttl, "NX"));
          attempt = 0;
        } catch {
          yield* clock.sleep(backoffDelay(attempt++, backoff));
          continue;
        }
        if (acquired !== "OK") {
          yield* clock.sleep(retryEvery);
          continue;
        }
        state.isLeader = true;
        state.terms++;
        try {
          yield* race([lead(), renew(sentAt)]);
          return; // lead() finished: give the role up
        } catch (error) {
          if (!(error instanceof LeaseLostError)) throw error;
          state.lost++;
          state.lastLoss = error;
        } finally {
          state.isLeader = false;
        }
      }
    });

    try {
      yield* provide(state);
    } finally {
      // Halt the led operation first (and wait for its cleanup), then release
      // the lease at once, so that a follower need not wait for it to expire.
      yield* contender.halt();
      try {
        yield* command(Math.min(ttl, 1_000), redis.eval(RELEASE, 1, key, state.token));
      } catch {
        // the lease expires by itself
      }
      redis.off("error", ignore);
      if (owned) redis.disconnect();
    }
  });
}
