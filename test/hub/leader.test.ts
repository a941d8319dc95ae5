import { run, sleep, spawn, suspend, until } from "effection";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { delay } from "../../src/core/clock.js";
import { type Leadership, useLeader } from "../../src/hub/redis.js";
import { useRedisServer } from "../../src/testing/redis-server.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { useChild } from "./fixtures/child.js";
import { starts, type Term, terms, waitFor } from "./fixtures/leader-terms.js";

checkLeaksAfterEach();

const LEADER = "test/hub/fixtures/leader.ts";

/**
 * No two terms overlap, fences increase, and every tick lies inside its lease:
 * after the term's start and before its deadline plus `marginMs`. (The
 * deadline is `marginMs` before the lease can expire, for this: a tick that
 * checked the deadline just before it is logged a moment later, on a busy
 * machine a few ms after it; the margin is what keeps such a write inside the
 * lease.)
 */
function expectNoOverlap(list: Term[], marginMs: number): void {
  for (let i = 0; i < list.length; i++) {
    const t = list[i];
    for (const tick of t.ticks) {
      expect(tick, `tick of fence ${t.fence} outside its term`).toBeGreaterThanOrEqual(t.start);
      expect(tick, `tick of fence ${t.fence} outside its lease`).toBeLessThanOrEqual(
        t.end + marginMs,
      );
    }
    if (i > 0) {
      expect(t.fence).toBeGreaterThan(list[i - 1].fence);
      expect(list[i - 1].end, `fence ${list[i - 1].fence} overlaps ${t.fence}`).toBeLessThanOrEqual(
        t.start,
      );
    }
  }
}

describe("useLeader", () => {
  it("lets exactly one of two contenders lead, and hands over at once when the leader ends", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const raw = new Redis(redis.url);
      try {
        const running = new Set<string>();
        const overlaps: number[] = [];
        const tokens = new Map<string, string>();
        const contend = (name: string) =>
          spawn(function* () {
            const leadership = yield* useLeader(
              { redis: redis.url, key: "role", ttlMs: 1_000 },
              function* () {
                running.add(name);
                if (running.size > 1) overlaps.push(running.size);
                try {
                  yield* suspend();
                } finally {
                  running.delete(name);
                }
              },
            );
            tokens.set(name, leadership.token);
            yield* suspend();
          });
        const a = yield* contend("a");
        yield* waitFor(() => running.has("a"));
        yield* contend("b");
        yield* waitFor(() => tokens.has("b"));
        yield* sleep(600); // b tries a few times (every ttl / 4) meanwhile
        expect([...running]).toEqual(["a"]);
        yield* a.halt();
        // released, not left to expire: when a's scope has ended its token is gone from the
        // key (which is free, or already b's)
        expect(yield* until(raw.get("role"))).not.toBe(tokens.get("a"));
        yield* waitFor(() => running.has("b"));
        expect(overlaps).toEqual([]);
      } finally {
        raw.disconnect();
      }
    });
  });

  it("gives each term a fencing token greater than every token before it", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const tokens: number[] = [];
      for (let i = 0; i < 3; i++) {
        // each contender leads once, then ends its scope (releasing the lease)
        const task = yield* spawn(function* () {
          yield* useLeader({ redis: redis.url, key: "role", ttlMs: 1_000 }, function* (term) {
            tokens.push(term.fencingToken);
          });
          yield* suspend();
        });
        yield* waitFor(() => tokens.length === i + 1);
        yield* task.halt();
      }
      expect(tokens[1]).toBeGreaterThan(tokens[0]);
      expect(tokens[2]).toBeGreaterThan(tokens[1]);
    });
  });

  it("halts the led operation when another process takes the key", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const raw = new Redis(redis.url);
      try {
        let halted = false;
        const leadership = yield* useLeader(
          { redis: raw, key: "role", ttlMs: 600, retryEveryMs: 5_000 },
          function* () {
            try {
              yield* suspend();
            } finally {
              halted = true;
            }
          },
        );
        yield* waitFor(() => leadership.isLeader);
        yield* until(raw.set("role", "someone-else", "PX", 10_000));
        yield* waitFor(() => halted, 2_000);
        expect(leadership).toMatchObject({ isLeader: false, terms: 1, lost: 1 });
        expect(leadership.lastLoss?.code).toBe("BOUGH_HUB_LEASE_LOST");
      } finally {
        raw.disconnect();
      }
    });
  });

  it("halts the leader on its own deadline while Redis is unreachable", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      let halted = false;
      const leadership = yield* useLeader(
        { redis: redis.url, key: "role", ttlMs: 600 },
        function* () {
          try {
            yield* suspend();
          } finally {
            halted = true;
          }
        },
      );
      yield* waitFor(() => leadership.isLeader);
      yield* redis.kill("SIGKILL");
      yield* waitFor(() => !leadership.isLeader);
      // halted by its own deadline (no renewal reached Redis), not by an answer from Redis;
      // that nothing of `lead` runs past the deadline is the test below
      expect(halted).toBe(true);
      expect(leadership).toMatchObject({ terms: 1, lost: 1 });
      expect(leadership.lastLoss?.message).toMatch(/deadline passed/);
      yield* redis.restart();
    });
  });

  it("never resumes the led operation from a timer that fired after the deadline", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const ticks: { fence: number; valid: boolean }[] = [];
      const leadership: Leadership = yield* useLeader(
        { redis: redis.url, key: "role", ttlMs: 300 },
        function* (term) {
          for (;;) {
            yield* delay(10);
            ticks.push({ fence: term.fencingToken, valid: term.valid });
          }
        },
      );
      yield* waitFor(() => ticks.length > 2);
      const first = leadership.fencingToken;
      // Block this event loop (the leader's) for 3 × ttl, from outside the led operation.
      const until = Date.now() + 900;
      while (Date.now() < until) {
        // busy
      }
      yield* waitFor(() => leadership.terms === 2 && ticks.some((t) => t.fence !== first));
      expect(leadership.lost).toBe(1);
      expect(leadership.lastLoss?.message).toMatch(/deadline passed/);
      expect(leadership.fencingToken).toBeGreaterThan(first);
      expect(ticks.filter((t) => !t.valid)).toEqual([]);
    });
  });

  for (const fault of ["SIGSTOP", "a blocked event loop"] as const) {
    it(`never runs two leader processes at once when the leader suffers ${fault} for 3 × ttl`, async () => {
      await run(function* () {
        const redis = yield* useRedisServer();
        const ttl = 1_000;
        const args = [redis.url, "ticker", String(ttl), "20", String(3 * ttl)];
        const a = yield* useChild(LEADER, args);
        const b = yield* useChild(LEADER, args);
        yield* waitFor(() => starts(a) + starts(b) > 0, 30_000); // two tsx processes starting
        const [leader, follower] = starts(a) > 0 ? [a, b] : [b, a];
        yield* waitFor(() => leader.lines.filter((l) => l.startsWith("tick")).length > 3);
        const faultAt = Date.now();
        if (fault === "SIGSTOP") {
          process.kill(leader.pid, "SIGSTOP");
          yield* waitFor(() => starts(follower) > 0);
          yield* sleep(Math.max(0, faultAt + 3 * ttl - Date.now()));
          process.kill(leader.pid, "SIGCONT");
        } else {
          process.kill(leader.pid, "SIGUSR2");
          yield* waitFor(() => starts(follower) > 0);
        }
        // (how soon the follower took over is not asserted: on a loaded machine that is a
        // matter of scheduling; that it did, and never beside the leader, is)
        // the stale leader wakes, is halted, and the follower keeps ticking after that
        yield* waitFor(() => leader.lines.some((l) => l.startsWith("stop")));
        const staleStop = Number(leader.lines.find((l) => l.startsWith("stop"))?.split(" ")[3]);
        yield* waitFor(() => terms([follower])[0].ticks.some((t) => t > staleStop + 100));
        const list = terms([a, b]);
        expect(list.length).toBe(2);
        expectNoOverlap(list, Math.min(ttl / 10, 250)); // useLeader's default margin
      });
    }, 90_000);
  }

  it("keeps the leader's term through a short Redis crash when Redis persists the lease", async () => {
    await run(function* () {
      const redis = yield* useRedisServer(); // appendonly yes
      // a ttl long enough that the restart fits in it even on a loaded machine
      const args = [redis.url, "ticker", "3000", "20"];
      const a = yield* useChild(LEADER, args);
      const b = yield* useChild(LEADER, args);
      yield* waitFor(() => starts(a) + starts(b) > 0);
      yield* redis.kill("SIGKILL");
      yield* sleep(200);
      yield* redis.restart();
      const restartedAt = Date.now();
      yield* waitFor(() => terms([a, b])[0].ticks.some((t) => t > restartedAt + 1_500));
      const list = terms([a, b]);
      expect(list.length).toBe(1);
      expect(list[0].end).toBe(Number.POSITIVE_INFINITY);
    });
  }, 30_000);

  it("starts no second leader beside the first when Redis restarts without persistence, and a new leader takes over", async () => {
    await run(function* () {
      const redis = yield* useRedisServer({ args: ["--appendonly", "no"] });
      const ttl = 1_000;
      const args = [redis.url, "ticker", String(ttl), "20"];
      const a = yield* useChild(LEADER, args);
      const b = yield* useChild(LEADER, args);
      yield* waitFor(() => starts(a) + starts(b) > 0, 30_000); // two tsx processes starting
      yield* redis.kill("SIGKILL");
      yield* sleep(200);
      yield* redis.restart(); // the lease and the fencing counter are gone
      yield* waitFor(() => starts(a) + starts(b) > 1, 15_000);
      yield* waitFor(() => terms([a, b])[1].ticks.length > 3, 20_000);
      const list = terms([a, b]);
      expect(list[0].end).toBeLessThan(Number.POSITIVE_INFINITY);
      expectNoOverlap(list, Math.min(ttl / 10, 250)); // useLeader's default margin
    });
  }, 90_000);
});
