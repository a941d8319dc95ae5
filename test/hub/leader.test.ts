import { run, sleep, spawn, suspend, until } from "effection";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { useLeader } from "../../src/hub/redis.js";
import { useRedisServer } from "../../src/testing/redis-server.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { useChild } from "./fixtures/child.js";

checkLeaksAfterEach();

const LEADER = "test/hub/fixtures/leader.ts";

describe("useLeader", () => {
  it("lets exactly one of two contenders lead, and hands over at once when the leader ends", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const running = new Set<string>();
      const overlaps: number[] = [];
      const contend = (name: string) =>
        spawn(function* () {
          yield* useLeader({ redis: redis.url, key: "role", ttl: 1_000 }, function* () {
            running.add(name);
            if (running.size > 1) overlaps.push(running.size);
            try {
              yield* suspend();
            } finally {
              running.delete(name);
            }
          });
          yield* suspend();
        });
      const a = yield* contend("a");
      yield* sleep(100);
      yield* contend("b");
      yield* sleep(600);
      expect([...running]).toEqual(["a"]);
      const t0 = Date.now();
      yield* a.halt();
      while (!running.has("b")) yield* sleep(5);
      // released, not expired: b takes over within one retry (ttl / 4)
      expect(Date.now() - t0).toBeLessThan(800);
      expect(overlaps).toEqual([]);
    });
  });

  it("halts the led operation when another process takes the key", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const raw = new Redis(redis.url);
      try {
        let halted = false;
        const leadership = yield* useLeader(
          { redis: raw, key: "role", ttl: 600, retryEvery: 5_000 },
          function* () {
            try {
              yield* suspend();
            } finally {
              halted = true;
            }
          },
        );
        yield* sleep(100);
        expect(leadership.isLeader).toBe(true);
        yield* until(raw.set("role", "someone-else", "PX", 10_000));
        yield* sleep(500);
        expect(halted).toBe(true);
        expect(leadership).toMatchObject({ isLeader: false, terms: 1, lost: 1 });
        expect(leadership.lastLoss?.code).toBe("BOUGH_LEASE_LOST");
      } finally {
        raw.disconnect();
      }
    });
  });

  it("halts the leader before its lease can expire while Redis is unreachable", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      let stoppedAt = 0;
      const leadership = yield* useLeader(
        { redis: redis.url, key: "role", ttl: 600 },
        function* () {
          try {
            yield* suspend();
          } finally {
            stoppedAt = Date.now();
          }
        },
      );
      yield* sleep(100);
      expect(leadership.isLeader).toBe(true);
      const killedAt = Date.now();
      yield* redis.kill("SIGKILL");
      yield* sleep(900);
      expect(leadership.isLeader).toBe(false);
      expect(stoppedAt - killedAt).toBeLessThanOrEqual(600);
      yield* redis.restart();
    });
  });

  it("fails over between real processes within ttl + one tick after the leader is SIGKILLed", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const ttl = 1_000;
      const tick = 100;
      const a = yield* useChild(LEADER, [redis.url, "ticker", String(ttl), String(tick)]);
      const b = yield* useChild(LEADER, [redis.url, "ticker", String(ttl), String(tick)]);
      yield* a.waitForLine((l) => l === "started");
      yield* b.waitForLine((l) => l === "started");
      yield* sleep(800);
      const ticking = (lines: string[]) => lines.filter((l) => l.startsWith("tick")).length;
      const [leader, follower] = ticking(a.lines) > 0 ? [a, b] : [b, a];
      expect(ticking(leader.lines)).toBeGreaterThan(3);
      expect(ticking(follower.lines)).toBe(0);
      const killedAt = Date.now();
      yield* leader.kill("SIGKILL");
      const first = yield* follower.waitForLine((l) => l.startsWith("tick"), 10_000);
      const tookOver = Number(first.split(" ")[3]) - killedAt;
      // ttl + one retry (ttl / 4) + one tick, with slack for a loaded machine
      expect(tookOver).toBeLessThan(ttl + ttl / 4 + tick + 500);
    });
  }, 30_000);
});
