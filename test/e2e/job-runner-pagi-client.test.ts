/**
 * PAGI's own browser client (examples/11-job-runner/public of jjn1056/pagi),
 * served unmodified in front of bough's job runner, driven in Chromium. The
 * client is copied from a local mirror at test time; without it these tests
 * are skipped (CI relies on job-runner.test.ts, which checks the same wire
 * format message by message).
 */
import { run, suspend, type Task } from "effection";
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, useRedisServer } from "../../src/testing/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { type Started, startApp } from "./fixtures/job-runner/helpers.js";
import { copyPagiClient, pagiClientMissing } from "./fixtures/job-runner/pagi-client.js";
import { launchChromium } from "./helpers/chromium.js";

const missing = pagiClientMissing();
if (missing) console.warn(`skipping PAGI's client tests: ${missing}`);

checkLeaksAfterEach({ timeoutMs: 5000 });

let browser: Browser | undefined;
let client: ReturnType<typeof copyPagiClient> | undefined;
let started: Started | undefined;
let page: Page | undefined;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (missing) return;
  client = copyPagiClient();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  client?.remove();
});

afterEach(async () => {
  await page?.close();
  page = undefined;
  await started?.stop();
  started = undefined;
});

async function open(options: Parameters<typeof startApp>[0] = {}): Promise<Page> {
  started = await startApp({ concurrency: 3, publicDir: client?.dir, ...options });
  pageErrors.length = 0;
  const opened = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
  page = opened;
  // the client logs parse failures and throws in handlers: every one is a protocol mismatch
  opened.on("pageerror", (error) => pageErrors.push(String(error)));
  opened.on("console", (message) => {
    // a failed load is reported by its response below, with its URL
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource"))
      pageErrors.push(message.text());
  });
  opened.on("response", (response) => {
    // PAGI's page links no icon; the browser asks for one anyway (PAGI's server 404s it too)
    if (response.status() >= 400 && !response.url().endsWith("/favicon.ico"))
      pageErrors.push(`${response.status()} ${response.url()}`);
  });
  await opened.goto(started.url);
  await opened.locator("#connection-status.connected").waitFor({ timeout: 10_000 });
  await opened.locator(".job-type-btn").nth(3).waitFor({ timeout: 5000 });
  return opened;
}

const card = (page: Page, id: number) => page.locator(`.job-card[data-job-id="${id}"]`);

async function createJob(page: Page, type: string, params: Record<string, string>) {
  await page.locator(`.job-type-btn[data-type="${type}"]`).click();
  for (const [name, value] of Object.entries(params)) {
    await page.locator(`#param-${name}`).fill(value);
  }
  await page.locator("#submit-btn").click();
}

/** The width of a card's progress bar, in percent, as the client drew it. */
function barOf(page: Page, id: number): Promise<number> {
  return page
    .locator(`.job-card[data-job-id="${id}"] .progress-fill`)
    .evaluate((el) =>
      Number.parseFloat((el as unknown as { style: { width: string } }).style.width),
    );
}

describe.skipIf(missing !== undefined)("PAGI's own client, unmodified, against bough", () => {
  it("renders the four job types with PAGI's parameter forms", async () => {
    const page = await open();
    const names = await page.locator(".job-type-btn .job-type-name").allTextContents();
    expect(names.sort()).toEqual(["countdown", "echo", "fibonacci", "prime"]);
    await page.locator('.job-type-btn[data-type="echo"]').click();
    expect(await page.locator("#param-message").inputValue()).toBe("Hello, World!");
    expect(await page.locator("#param-delay").inputValue()).toBe("3");
    expect(await page.locator("#param-delay").getAttribute("max")).toBe("30");
    await page.locator('.job-type-btn[data-type="fibonacci"]').click();
    expect(await page.locator("#param-count").inputValue()).toBe("20");
    expect(await page.locator("#submit-btn").isEnabled()).toBe(true);
    expect(await page.locator("#worker-capacity").textContent()).toBe("3");
    expect(pageErrors).toEqual([]);
  });

  it("runs every job type from its form: cards appear live, bars move, results show", async () => {
    const page = await open();
    await createJob(page, "countdown", { seconds: "3" });
    await card(page, 1).waitFor({ timeout: 5000 });
    await card(page, 1).locator(".job-status.running").waitFor({ timeout: 5000 });
    // the bar moves while it runs (job_progress over the WebSocket)
    await page.waitForFunction(
      `(() => { const el = document.querySelector('.job-card[data-job-id="1"] .progress-fill');
        const w = el && parseFloat(el.style.width); return w > 0 && w < 100; })()`,
      undefined,
      { timeout: 5000 },
    );
    expect(await page.locator("#stat-running").textContent()).toBe("1");
    expect(await page.locator("#worker-active").textContent()).toBe("1");
    await createJob(page, "prime", { limit: "50000" });
    await createJob(page, "fibonacci", { count: "8" });
    await createJob(page, "echo", { message: "hello from PAGI's form", delay: "1" });
    for (const id of [1, 2, 3, 4]) {
      await card(page, id).locator(".job-status.completed").waitFor({ timeout: 15_000 });
      expect(await barOf(page, id)).toBe(100);
    }
    expect(await card(page, 2).locator(".job-type").textContent()).toBe("prime");
    expect(await page.locator("#stat-completed").textContent()).toBe("4");
    await page.waitForFunction(
      `document.querySelector("#worker-processed").textContent === "4"`,
      undefined,
      { timeout: 5000 },
    );
    expect(await page.locator("#worker-active").textContent()).toBe("0");
    // the details panel shows a result in PAGI's shape
    await card(page, 4).click();
    await page.locator("#job-details .result-box", { hasText: "echoed" }).waitFor();
    expect(await page.locator("#job-details").textContent()).toContain("hello from PAGI's form");
    await card(page, 3).click();
    await page
      .locator("#job-details .result-box", { hasText: "Calculated 8 Fibonacci numbers" })
      .waitFor();
    expect(pageErrors).toEqual([]);
  });

  it("follows a selected job over SSE, cancels it, and reflects the cancel", async () => {
    const page = await open();
    await createJob(page, "countdown", { seconds: "30" });
    await card(page, 1).locator(".job-status.running").waitFor({ timeout: 5000 });
    await card(page, 1).click();
    await page.locator("#job-details #detail-progress-fill").waitFor();
    // the details bar is fed by the job's SSE stream
    await page.waitForFunction(
      `parseFloat(document.querySelector("#detail-progress-fill").style.width) > 0`,
      undefined,
      { timeout: 5000 },
    );
    await page.locator("#cancel-job-btn").click();
    await card(page, 1).locator(".job-status.cancelled").waitFor({ timeout: 5000 });
    await page.locator("#job-details .job-status.cancelled").waitFor({ timeout: 5000 });
    expect(await page.locator("#cancel-job-btn").count()).toBe(0);
    expect(started?.app.runner.get(1).status).toBe("cancelled");
    // and it stays cancelled: the countdown does not come back as completed
    expect(await page.locator("#stat-running").textContent()).toBe("0");
    await page.waitForFunction(
      `document.querySelector("#worker-active").textContent === "0"`,
      undefined,
      { timeout: 5000 },
    );
    expect(pageErrors).toEqual([]);
  });

  it("clears finished jobs with Clear Completed; a second page sees the same queue", async () => {
    const page = await open();
    await createJob(page, "fibonacci", { count: "5" });
    await createJob(page, "countdown", { seconds: "30" });
    await card(page, 1).locator(".job-status.completed").waitFor({ timeout: 10_000 });
    await card(page, 2).locator(".job-status.running").waitFor({ timeout: 5000 });
    await page.locator("#clear-completed-btn").click();
    await card(page, 1).waitFor({ state: "detached", timeout: 5000 });
    expect(await card(page, 2).count()).toBe(1);
    expect(started?.app.runner.stats()).toMatchObject({ completed: 0, running: 1, total: 1 });
    // a second page sees the same queue: only the running job
    const second = await (browser as Browser).newPage();
    try {
      await second.goto(started?.url ?? "");
      await second.locator('.job-card[data-job-id="2"] .job-status.running').waitFor();
      expect(await second.locator(".job-card").count()).toBe(1);
    } finally {
      await second.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it("answers the client's pong to the server's app-level ping", async () => {
    const page = await open({ appPingIntervalMs: 200 });
    const pongs = await page.evaluate(
      `new Promise((resolve) => {
        const ws = new WebSocket("ws://" + location.host + "/ws/queue");
        ws.onmessage = (e) => {
          const m = JSON.parse(e.data);
          if (m.type === "ping") ws.send(JSON.stringify({ type: "pong", ts: m.ts }));
          if (m.type === "ping" && typeof m.ts === "number") { ws.close(); resolve(m.ts); }
        };
      })`,
    );
    expect(typeof pongs).toBe("number");
    // the page's own socket answered pings too and is still connected
    expect(await page.locator("#connection-status.connected").count()).toBe(1);
    expect(pageErrors).toEqual([]);
  });
  it("works on a cluster: a job created through the form on one member shows live on another", async () => {
    let ready!: (server: RedisServer) => void;
    const up = new Promise<RedisServer>((r) => {
      ready = r;
    });
    const redisTask: Task<void> = run(function* () {
      ready(yield* useRedisServer());
      yield* suspend();
    });
    const redis = await up;
    const other = await startApp({ concurrency: 3, publicDir: client?.dir, redis: redis.url });
    let second: Page | undefined;
    try {
      const page = await open({ redis: redis.url });
      second = await (browser as Browser).newPage();
      second.on("pageerror", (error) => pageErrors.push(String(error)));
      await second.goto(other.url);
      await second.locator("#connection-status.connected").waitFor({ timeout: 10_000 });
      await createJob(page, "echo", { message: "from the first member", delay: "1" });
      const card = second.locator('.job-card[data-job-id="1"]');
      await card.waitFor({ timeout: 5000 });
      await card.locator(".job-status.completed").waitFor({ timeout: 10_000 });
      // both members count both processes' workers
      expect(await second.locator("#worker-capacity").textContent()).toBe("6");
      expect(pageErrors).toEqual([]);
    } finally {
      await second?.close();
      await page?.close();
      page = undefined;
      await started?.stop();
      started = undefined;
      await other.stop();
      await redisTask.halt();
    }
  });
});
