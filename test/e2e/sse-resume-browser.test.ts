/**
 * A real EventSource in headless Chromium resuming across a server restart: the
 * restarted (memory) hub does not know the browser's Last-Event-ID, so the stream
 * starts from now after an `event: reset`, new messages arrive at once, and the
 * browser does not fall into a reconnect loop.
 */
import { type Operation, run, suspend, type Task } from "effection";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRouter, html, type Server, sse, useServer } from "../../src/http/index.js";
import { type Hub, useHub } from "../../src/hub/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { launchChromium } from "./helpers/chromium.js";

checkLeaksAfterEach({ timeoutMs: 5000 });

let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

const PAGE = `<!doctype html><title>sse</title><script>
window.got = []; window.resets = []; window.opens = 0;
const es = new EventSource("/events");
es.onopen = () => { window.opens++; };
es.onmessage = (e) => { window.got.push({ id: e.lastEventId, value: JSON.parse(e.data).value }); };
es.addEventListener("reset", (e) => { window.resets.push(JSON.parse(e.data)); });
</script>`;

interface Running {
  task: Task<void>;
  server: Server;
  hub: Hub<string>;
  /** Connections to /events so far. */
  connections(): number;
}

/** Starts a server with a fresh memory hub (a new "run") on `port`. */
async function start(port: number): Promise<Running> {
  let connections = 0;
  let ready!: (value: { server: Server; hub: Hub<string> }) => void;
  const started = new Promise<{ server: Server; hub: Hub<string> }>((r) => {
    ready = r;
  });
  const task = run(function* (): Operation<void> {
    const hub = yield* useHub<string>({ topic: "feed", history: 100 });
    const router = createRouter()
      .get("/", function* () {
        return html(PAGE);
      })
      .get("/events", function* (ctx) {
        connections++;
        return sse(hub.subscribe({ after: ctx.lastEventId }), { retryMs: 250, heartbeatMs: 0 });
      });
    const server = yield* useServer({ port, handler: router, shutdownGraceMs: 200 });
    ready({ server, hub });
    yield* suspend();
  });
  const { server, hub } = await started;
  return { task, server, hub, connections: () => connections };
}

function publish(running: Running, value: string): Promise<unknown> {
  return run(() => running.hub.publish(value));
}

describe("SSE resume in Chromium", () => {
  it("recovers from a server restart with an event: reset, new messages within 1 s and no reconnect loop", async () => {
    const first = await start(0);
    const page = await browser.newPage();
    await page.goto(first.server.url);
    await page.waitForFunction("window.opens === 1");
    for (let i = 1; i <= 20; i++) await publish(first, `a${i}`);
    await page.waitForFunction("window.got.length === 20");
    expect(await page.evaluate("window.got.at(-1).id")).toBe("20");

    await first.task.halt(); // the browser now retries every 250 ms against a closed port
    const second = await start(first.server.port);
    const restartedAt = performance.now();
    // the new run publishes as soon as the browser is back (its seq stays below 20)
    while (second.hub.stats().subscribers === 0) await new Promise((r) => setTimeout(r, 5));
    const ticker = setInterval(() => void publish(second, `b${performance.now()}`), 50);
    try {
      await page.waitForFunction("window.got.some((m) => m.value.startsWith('b'))", undefined, {
        timeout: 5000,
      });
      const firstNewMs = performance.now() - restartedAt;
      await page.waitForFunction("window.got.filter((m) => m.value.startsWith('b')).length >= 10");
      expect(firstNewMs).toBeLessThan(1000);
      expect(await page.evaluate("window.resets")).toEqual([
        { cursor: "20", reason: "ahead", resumeAfter: null },
      ]);
      expect(await page.evaluate("window.opens")).toBe(2);
      expect(second.connections()).toBe(1);
      console.info(`first new message ${firstNewMs.toFixed(0)} ms after the restart`);
    } finally {
      clearInterval(ticker);
      await page.close();
      await second.task.halt();
    }
  });
});
