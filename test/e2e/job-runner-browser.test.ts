import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { type Started, startApp } from "./fixtures/job-runner/helpers.js";
import { launchChromium } from "./helpers/chromium.js";

checkLeaksAfterEach({ timeoutMs: 5000 });

const ARTIFACTS = resolve(import.meta.dirname, "artifacts");

let browser: Browser;
let started: Started;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

beforeEach(async () => {
  started = await startApp({ concurrency: 3 });
});

afterEach(async () => {
  await started.stop();
});

async function openDashboard(width = 1100, height = 900): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  await page.goto(started.url);
  await page.locator("#conn.connected").waitFor({ timeout: 10_000 });
  await page.locator('form[data-type="countdown"]').waitFor();
  return page;
}

/** Job 1's progress bar (the browser-side selector). */
const BAR = 'li.job[data-job-id="1"] .bar';

const job = (page: Page, id: number) => page.locator(`li.job[data-job-id="${id}"]`);

describe("the dashboard in Chromium", () => {
  it("shows a 3 s countdown's bar reaching 100% and the status completed", async () => {
    const page = await openDashboard();
    const form = page.locator('form[data-type="countdown"]');
    await form.locator('input[name="seconds"]').fill("3");
    await form.locator('button[type="submit"]').click();
    const card = job(page, 1);
    await card.locator(".status", { hasText: "running" }).waitFor({ timeout: 5000 });
    // the bar moves while it runs
    await page.waitForFunction(
      `(() => {
      const value = Number(document.querySelector('${BAR}')?.getAttribute("aria-valuenow"));
      return value > 0 && value < 100;
    })()`,
      undefined,
      { timeout: 5000 },
    );
    await page.screenshot({ path: resolve(ARTIFACTS, "job-runner-countdown-running.png") });
    await card.locator(".status", { hasText: "completed" }).waitFor({ timeout: 10_000 });
    expect(await card.locator(".bar").getAttribute("aria-valuenow")).toBe("100");
    expect(await card.locator(".pct").textContent()).toBe("100%");
    expect(await card.locator(".cancel").isHidden()).toBe(true);
    expect(await page.locator('[data-stat="completed"]').textContent()).toBe("1");
    await page.screenshot({ path: resolve(ARTIFACTS, "job-runner-countdown-completed.png") });
    await page.close();
  });

  it("cancels a running countdown, and the worker panel follows", async () => {
    const page = await openDashboard();
    const form = page.locator('form[data-type="countdown"]');
    await form.locator('input[name="seconds"]').fill("30");
    await form.locator('button[type="submit"]').click();
    const card = job(page, 1);
    await card.locator(".status", { hasText: "running" }).waitFor({ timeout: 5000 });
    await page.locator("#worker-active", { hasText: "1" }).waitFor({ timeout: 5000 });
    await page.waitForFunction(
      `Number(document.querySelector('${BAR}')?.getAttribute("aria-valuenow")) > 0`,
      undefined,
      { timeout: 15_000 },
    );
    await card.locator(".cancel").click();
    await card.locator(".status", { hasText: "cancelled" }).waitFor({ timeout: 10_000 });
    const progress = Number(await card.locator(".bar").getAttribute("aria-valuenow"));
    expect(progress).toBeGreaterThan(0);
    expect(progress).toBeLessThan(100);
    expect(started.app.runner.get(1).status).toBe("cancelled");
    await page.locator("#worker-active", { hasText: "0" }).waitFor({ timeout: 5000 });
    expect(await page.locator("#worker-processed").textContent()).toBe("1");
    expect(await page.locator('[data-stat="cancelled"]').textContent()).toBe("1");
    await page.screenshot({ path: resolve(ARTIFACTS, "job-runner-countdown-cancelled.png") });
    await page.close();
  });

  it("shows a job created in one page in a second page, on a phone-sized screen too", async () => {
    const first = await openDashboard();
    const phone = await openDashboard(390, 844);
    const form = first.locator('form[data-type="echo"]');
    await form.locator('input[name="message"]').fill("from the first page");
    await form.locator('input[name="delay"]').fill("1");
    await form.locator('button[type="submit"]').click();
    const card = job(phone, 1);
    await card.waitFor({ timeout: 5000 });
    await card.locator(".status", { hasText: "completed" }).waitFor({ timeout: 10_000 });
    expect(await card.locator(".result").textContent()).toContain("from the first page");
    // the phone layout has no horizontal scrolling
    const overflow = await phone.evaluate<number>(
      "document.documentElement.scrollWidth - window.innerWidth",
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await phone.screenshot({ path: resolve(ARTIFACTS, "job-runner-phone.png"), fullPage: true });

    // "clear completed" in the phone removes it from both pages
    await phone.locator("#clear").click();
    await job(first, 1).waitFor({ state: "detached", timeout: 5000 });
    await card.waitFor({ state: "detached", timeout: 5000 });
    await first.close();
    await phone.close();
  });

  it("shows a parameter error and keeps the queue unchanged", async () => {
    const page = await openDashboard();
    const form = page.locator('form[data-type="countdown"]');
    // bypass the browser's own validation to reach the server's
    await form.evaluate((el) => {
      (el as unknown as { noValidate: boolean }).noValidate = true;
    });
    await form.locator('input[name="seconds"]').fill("61");
    await form.locator('button[type="submit"]').click();
    await page
      .locator("#form-error", { hasText: "Parameter 'seconds' must be at most 60" })
      .waitFor({
        timeout: 5000,
      });
    expect(started.app.runner.stats().total).toBe(0);
    await page.close();
  });

  it("shows the connection state, reconnects, and takes a restarted server's queue as it is", async () => {
    const page = await openDashboard();
    const post = (body: unknown) =>
      page.evaluate(
        `fetch("/api/jobs", { method: "POST", headers: { "content-type": "application/json" }, body: ${JSON.stringify(JSON.stringify(body))} })`,
      );
    await post({ job_type: "fibonacci", params: { count: 5 } });
    await post({ job_type: "fibonacci", params: { count: 5 } });
    await job(page, 2).locator(".status", { hasText: "completed" }).waitFor({ timeout: 5000 });
    const port = started.app.port;
    await started.stop();
    await page.locator("#conn.reconnecting").waitFor({ timeout: 5000 });
    started = await startApp({ port });
    await page.locator("#conn.connected").waitFor({ timeout: 15_000 });
    // the new run has no jobs: the old ones go
    await job(page, 2).waitFor({ state: "detached", timeout: 5000 });
    // and its job 1 (at an earlier position than the old run's events) shows
    await post({ job_type: "echo", params: { message: "new run", delay: 1 } });
    const card = job(page, 1);
    await card.locator(".status", { hasText: "completed" }).waitFor({ timeout: 5000 });
    expect(await card.locator(".result").textContent()).toContain("new run");
    await page.close();
  });
});
