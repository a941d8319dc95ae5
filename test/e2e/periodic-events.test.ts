import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { request } from "node:http";
import { call, run, sleep } from "effection";
import { describe, expect, it } from "vitest";
import { usePeriodicEvents } from "../../examples/periodic-events/app.js";
import { useRedisServer } from "../../src/testing/index.js";
import { killChildrenAfterEach, startScript } from "../helpers/child-processes.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

const track = killChildrenAfterEach();

/** Starts examples/periodic-events/main.ts and resolves with its URL once it listens. */
async function startApp(
  args: string[],
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const script = await startScript(
    track,
    "examples/periodic-events/main.ts",
    ["--port", "0", ...args],
    { ready: /listening on (http:\/\/\S+)/ },
  );
  return { child: script.child, url: script.ready[1], output: script.output };
}

async function getJson(url: string): Promise<{ status: number; body: unknown; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(url);
  const text = await res.text();
  return {
    status: res.status,
    body: text ? JSON.parse(text) : undefined,
    ms: performance.now() - t0,
  };
}

describe("examples/periodic-events", () => {
  it("behaves like the seed's curl session", async () => {
    const { url } = await startApp(["--tick-ms", "300", "--beat-ms", "700"]);
    const first = await getJson(`${url}/`);
    expect(first.status).toBe(200);
    const body = first.body as { count: number; beats: number; hint: string };
    expect(body.hint).toBe("GET /next to wait for the next tick");
    const next = await getJson(`${url}/next`);
    // the next tick after the count we saw (one more may have fired between the two requests)
    const { tick } = next.body as { tick: number };
    expect(tick).toBeGreaterThanOrEqual(body.count + 1);
    expect(tick).toBeLessThanOrEqual(body.count + 2);
    expect(next.ms).toBeLessThan(300 + 2000); // it waited for a tick, not for a timeout
    const after = (await getJson(`${url}/`)).body as { count: number };
    expect(after.count).toBeGreaterThanOrEqual(body.count + 1);

    // curl -N /stream: one {"tick":N} line per tick, consecutive
    const res = await fetch(`${url}/stream`);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (text.split("\n").filter((l) => l.trim()).length < 3) {
      const { value } = await reader.read();
      text += decoder.decode(value);
    }
    await reader.cancel();
    const ticks = text
      .split("\n")
      .filter((l) => l.trim())
      .slice(0, 3)
      .map((l) => JSON.parse(l).tick as number);
    expect(ticks[1]).toBe(ticks[0] + 1);
    expect(ticks[2]).toBe(ticks[0] + 2);
  });

  it("wakes 100 /next waiters with one tick", async () => {
    const { url } = await startApp(["--tick-ms", "500"]);
    const seen = (await getJson(`${url}/next`)).body as { tick: number; id: string };
    // each asks for the tick after the one seen: a waiter that a loaded machine connects only
    // after that tick gets it from the hub's history, so no request depends on a time window
    const answers = await Promise.all(
      Array.from({ length: 100 }, () =>
        getJson(`${url}/next?after=${encodeURIComponent(seen.id)}`),
      ),
    );
    const ticks = new Set(answers.map((a) => (a.body as { tick: number }).tick));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect([...ticks]).toEqual([seen.tick + 1]);
  });

  it("logs a failing source with its stack and exits non-zero promptly", async () => {
    const { child, output } = await startApp(["--tick-ms", "50", "--fail-at-tick", "3"]);
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).not.toBe(0);
    expect(output()).toContain("source failed at tick 3");
    expect(output()).toMatch(/at counting/);
  });

  it("leaves no subscriber behind when /stream clients disconnect", async () => {
    await run(function* () {
      const app = yield* usePeriodicEvents({ tickMs: 50, beatMs: 1000 });
      const baseline = app.ticks.stats().subscribers;
      const requests = Array.from({ length: 10 }, () =>
        request(`${app.url}/stream`).on("error", () => {}),
      );
      for (const req of requests) req.end();
      yield* sleep(300);
      expect(app.ticks.stats().subscribers).toBe(baseline + 10);
      for (const req of requests) req.destroy();
      for (let i = 0; i < 50 && app.ticks.stats().subscribers > baseline; i++) yield* sleep(10);
      expect(app.ticks.stats().subscribers).toBe(baseline);
    });
  });

  it("warns that --workers without --redis gives each worker its own count", async () => {
    const { child, output } = await startApp(["--workers", "2", "--tick-ms", "1000"]);
    await new Promise((r) => setTimeout(r, 200));
    expect(output()).toContain("each worker runs its own ticker");
    child.kill("SIGTERM");
    await once(child, "exit");
  });

  it("shares one count across 3 processes on Redis and survives killing the leader", async () => {
    await run(function* () {
      const redis = yield* useRedisServer();
      const tickMs = 200;
      const apps = yield* call(() =>
        Promise.all(
          [0, 1, 2].map(() =>
            startApp([
              "--tick-ms",
              String(tickMs),
              "--beat-ms",
              "500",
              "--redis",
              redis.url,
              "--lease-ms",
              "800",
            ]),
          ),
        ),
      );
      const leaderOf = () => apps.filter((app) => /leads: running the ticker/.test(app.output()));
      for (let i = 0; i < 100 && leaderOf().length === 0; i++) yield* sleep(50);
      expect(leaderOf()).toHaveLength(1);
      yield* sleep(3 * tickMs);

      const counts = yield* call(() =>
        Promise.all(
          apps.map((app) =>
            getJson(`${app.url}/`).then((r) => (r.body as { count: number }).count),
          ),
        ),
      );
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      const nexts = yield* call(() => Promise.all(apps.map((app) => getJson(`${app.url}/next`))));
      const nextTicks = nexts.map((r) => (r.body as { tick: number }).tick);
      expect(Math.max(...nextTicks) - Math.min(...nextTicks)).toBeLessThanOrEqual(1);

      const [leader] = leaderOf();
      const before = Math.max(...counts);
      leader.child.kill("SIGKILL");
      yield* call(() => once(leader.child, "exit"));
      const survivors = apps.filter((app) => app !== leader);
      // a follower takes the lease within its ttl (800 ms) plus a retry, and ticks go on
      const t0 = performance.now();
      let after = before;
      while (after <= before + 2 && performance.now() - t0 < 5000) {
        yield* sleep(100);
        const reply = yield* call(() => getJson(`${survivors[0].url}/`));
        after = (reply.body as { count: number }).count;
      }
      expect(after).toBeGreaterThan(before + 2);
      expect(
        survivors.filter((app) => /leads: running the ticker/.test(app.output())),
      ).toHaveLength(1);
      for (const app of survivors) {
        app.child.kill("SIGTERM");
        yield* call(() => once(app.child, "exit"));
      }
    });
  });
});
