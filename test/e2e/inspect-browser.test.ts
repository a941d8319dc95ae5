/**
 * The live inspector page in headless Chromium: the tree arrives over SSE and
 * follows the app without a reload (start, halting, failure), failures stay
 * listed after their task is gone, search and collapse work, counters get
 * sparklines, and the page fits a phone's width. (The screenshots in
 * docs/guides/inspect.md come from scripts/inspect-screenshots.ts.)
 */
import { type ClientRequest, request } from "node:http";
import {
  createChannel,
  each,
  type Operation,
  run,
  type Scope,
  sleep,
  spawn,
  suspend,
  type Task,
  until,
  useScope,
} from "effection";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { label, labelled } from "../../src/core/labels.js";
import { createRouter, sse, useServer } from "../../src/http/index.js";
import { useHub } from "../../src/hub/index.js";
import { type Inspector, useInspector } from "../../src/inspect/inspector.js";
import { usePool } from "../../src/pool/pool.js";
import { ticker } from "../../src/sources/ticker.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { echoWorkerFile } from "../pool/helpers.js";
import { launchChromium } from "./helpers/chromium.js";

checkLeaksAfterEach({ timeoutMs: 5000 });

let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

interface App {
  task: Task<void>;
  scope: Scope;
  inspector: Inspector;
  /** Runs `op` as a task of the app, ignoring its failure (it is the inspector's to show). */
  start(op: () => Operation<unknown>): Task<void>;
}

async function startApp(token?: string): Promise<App> {
  let ready!: (app: Omit<App, "task" | "start">) => void;
  const started = new Promise<Omit<App, "task" | "start">>((r) => {
    ready = r;
  });
  const task = run(function* () {
    yield* label("inspected app");
    const inspector = yield* useInspector({
      capture: false,
      listen: { port: 0, title: "inspected app", token },
      live: { sampleMs: 50 },
    });
    ready({ scope: yield* useScope(), inspector });
    yield* suspend();
  });
  const app = await started;
  return {
    ...app,
    task,
    start: (op) =>
      app.scope.run(function* () {
        try {
          yield* op();
        } catch {
          // shown by the inspector
        }
      }),
  };
}

async function openPage(app: App, width = 1100, height = 800, query = ""): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  (page as Page & { errors: string[] }).errors = errors;
  await page.goto(`${app.inspector.url}${query}`);
  await page.waitForSelector("body[data-live]");
  return page;
}

const errorsOf = (page: Page) => (page as Page & { errors: string[] }).errors;

/**
 * Makes the page note, by a MutationObserver, when (`Date.now()`, the clock
 * this process shares) each tree node first appears in a state
 * (`"job 1 running"`), leaves (`"job 1 gone"`), and each failure is listed
 * (`"failure a › b"`).
 */
async function recordChanges(page: Page): Promise<void> {
  await page.evaluate(() => {
    const g = globalThis as any;
    const seen: Record<string, number> = (g.seen = {});
    const note = (key: string, at: number) => {
      seen[key] ??= at;
    };
    const added = (node: any, at: number) => {
      if (node.nodeType !== 1) return;
      for (const li of [node, ...node.querySelectorAll("li")]) {
        if (li.hasAttribute("data-name")) {
          note(`${li.getAttribute("data-name")} ${li.getAttribute("data-state")}`, at);
        } else if (li.classList.contains("failure")) {
          note(`failure ${li.querySelector(".path")?.textContent}`, at);
        }
      }
    };
    new g.MutationObserver((records: any[]) => {
      const at = Date.now();
      for (const r of records) {
        if (r.type === "attributes" && r.target.hasAttribute("data-name")) added(r.target, at);
        for (const node of r.addedNodes) added(node, at);
        for (const node of r.removedNodes) {
          if (node.nodeType === 1 && node.hasAttribute("data-name")) {
            note(`${node.getAttribute("data-name")} gone`, at);
          }
        }
      }
    }).observe(g.document.getElementById("status"), {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ["data-state"],
    });
  });
}

/** When the page noted `key` (see {@link recordChanges}); waits for it. */
async function seenAt(page: Page, key: string): Promise<number> {
  const handle = await page.waitForFunction((k) => (globalThis as any).seen[k], key);
  return (await handle.jsonValue()) as number;
}

describe("the live inspector page", () => {
  it("shows a task that starts, halts or fails within 200 ms, without a reload", async () => {
    const app = await startApp();
    const page = await openPage(app);
    try {
      await recordChanges(page);
      const latencies: number[] = [];
      /** From `changedAt` (this process's clock, where the app runs) to the page's DOM change. */
      const shown = async (key: string, changedAt: number) => {
        latencies.push((await seenAt(page, key)) - changedAt);
      };
      for (let i = 0; i < 5; i++) {
        const t0 = Date.now();
        const job = app.start(() => labelled(`job ${i}`, suspend, { attributes: { n: i } }));
        await shown(`job ${i} running`, t0);
        const t1 = Date.now();
        await job.halt();
        await shown(`job ${i} gone`, t1);
      }

      // a task halting shows as halting while its cleanup runs
      let finish!: () => void;
      const cleanup = new Promise<void>((r) => {
        finish = r;
      });
      const slow = app.start(() =>
        labelled("slow to halt", function* () {
          try {
            yield* suspend();
          } finally {
            yield* until(cleanup);
          }
        }),
      );
      await seenAt(page, "slow to halt running");
      const t2 = Date.now();
      const halting = slow.halt().then(() => {}); // then() starts the (lazy) halt
      await shown("slow to halt halting", t2);
      expect(await page.getAttribute(`li[data-name="slow to halt"]`, "data-state")).toBe("halting");
      finish();
      await halting;

      // a failure shows in the tree's failure list, with its path, and stays
      const t3 = Date.now();
      app.start(() =>
        labelled("parent", () =>
          labelled("importer", function* () {
            throw new Error("row 7: <b>not</b> a number");
          }),
        ),
      );
      await shown("failure inspected app › parent › importer", t3);
      const failure = await page.textContent("#failures li");
      expect(failure).toContain("inspected app › parent › importer");
      expect(failure).toContain("Error: row 7: <b>not</b> a number");
      expect(await page.locator("#failures li b").count()).toBe(0); // shown as text
      expect(await page.textContent("#failures pre.stack")).toContain("inspect-browser.test.ts");
      expect(await page.locator(`li[data-name="importer"]`).count()).toBe(0);

      latencies.sort((a, b) => a - b);
      const median = latencies[Math.floor(latencies.length / 2)];
      const max = latencies.at(-1) ?? 0;
      console.info(
        `inspector live update, server-side change to DOM: median ${median} ms, max ${max} ms over ${latencies.length} changes`,
      );
      // event-driven (each wait ends on the page's own record), so only a generous bound
      // against a stuck feed; the figure above is what the 200 ms is about
      expect(max).toBeLessThan(2000);
      expect(errorsOf(page)).toEqual([]);
    } finally {
      await page.close();
      await app.task.halt();
    }
  });

  it("keeps the failure history for a page opened after the task is gone", async () => {
    const app = await startApp();
    try {
      await run(() =>
        app.start(() =>
          labelled("nightly report", function* () {
            throw new TypeError("mail server refused");
          }),
        ),
      );
      const page = await openPage(app);
      expect(await page.textContent("#failures")).toMatch(
        /inspected app › nightly report.*TypeError: mail server refused/s,
      );
      await page.close();
    } finally {
      await app.task.halt();
    }
  });

  it("filters the tree by name and collapses subtrees", async () => {
    const app = await startApp();
    const page = await openPage(app);
    try {
      app.start(() =>
        labelled("consumers", function* () {
          yield* spawnLabelled("alpha one");
          yield* spawnLabelled("alpha two");
          yield* spawnLabelled("beta");
          yield* suspend();
        }),
      );
      await page.waitForSelector(`li[data-name="beta"]`);
      await page.fill("#search", "BET");
      await page.waitForSelector(`li[data-name="alpha one"]`, { state: "hidden" });
      expect(await page.isVisible(`li[data-name="beta"]`)).toBe(true);
      expect(await page.isVisible(`li[data-name="consumers"]`)).toBe(true); // its ancestor
      await page.fill("#search", "");
      await page.waitForSelector(`li[data-name="alpha one"]`, { state: "visible" });

      await page.click(`li[data-name="consumers"] > .row > .tog`);
      await page.waitForSelector(`li[data-name="beta"]`, { state: "hidden" });
      expect(await page.isVisible(`li[data-name="consumers"]`)).toBe(true);
      await page.click(`li[data-name="consumers"] > .row > .tog`);
      await page.waitForSelector(`li[data-name="beta"]`, { state: "visible" });
      expect(errorsOf(page)).toEqual([]);
    } finally {
      await page.close();
      await app.task.halt();
    }
  });

  it("shows the panels of the app's pools, sources, hubs and servers: busy workers, ticks, lag and open streams per route", async () => {
    const app = await startApp();
    let client: ClientRequest | undefined;
    try {
      let served!: (url: string) => void;
      const serverUrl = new Promise<string>((resolve) => (served = resolve));
      app.start(function* () {
        const pool = yield* usePool({ worker: echoWorkerFile, name: "resizers", maxWorkers: 1 });
        yield* spawn(() => pool.run("sleep", 60_000)); // the one worker: busy
        yield* spawn(() => pool.run("sleep", 60_000)); // a checkout waiting for it
        const hub = yield* useHub<string>({ topic: "orders", buffer: 16 });
        yield* hub.subscribe(); // a subscriber that never reads: 3 behind
        for (const order of ["a", "b", "c"]) yield* hub.publish(order);
        const feed = createChannel<string, never>();
        const router = createRouter().get("/events", function* () {
          return sse(feed);
        });
        served((yield* useServer({ handler: router })).url);
        for (const _ of yield* each(ticker({ intervalMs: 20 }))) yield* each.next();
      });
      const url = await serverUrl;
      await new Promise<void>((resolve, reject) => {
        client = request(`${url}/events`, { agent: false }, () => resolve());
        client.on("error", reject);
        client.end();
      });
      const page = await openPage(app);
      const shows = (text: string) =>
        page.waitForFunction(
          (t) => (globalThis as any).document.querySelector("#panels")?.textContent?.includes(t),
          text,
        );
      await shows("source ticker every 20 ms");
      await page.waitForFunction(() =>
        /pool resizers.*busy\s*1.*waiting\s*1/s.test(
          (globalThis as any).document.querySelector("#panels")?.textContent ?? "",
        ),
      );
      await shows("max 3 · total 3 · behind 1");
      await shows("GET /events 1");
      expect(await page.textContent("#panels")).toMatch(/ticks\s*[1-9]/);
      expect(errorsOf(page)).toEqual([]);
      await page.close();
    } finally {
      client?.destroy();
      await app.task.halt();
    }
  });

  it("draws counters as sparklines and fits a phone's width, behind a token", async () => {
    const app = await startApp("s3cret");
    try {
      app.start(() =>
        labelled("mq consumer", function* () {
          yield* spawnLabelled("poll every 60 s", {
            kind: "source",
            attributes: { intervalMs: 60_000 },
          });
          yield* spawnLabelled("udp kick listener", {
            kind: "resource",
            attributes: { port: 41234 },
          });
          yield* spawnLabelled("row 17 (email)", {
            kind: "selector item",
            attributes: { row: 17 },
          });
          yield* suspend();
        }),
      );
      app.start(() => labelled("a label with <img src=x onerror=window.pwned=1>", suspend));
      app.start(function* () {
        const hub = yield* useHub<string>({ topic: "jobs", buffer: 16 });
        yield* hub.publish("job 1");
        yield* suspend();
      });
      app.start(() =>
        labelled("send mail", function* () {
          yield* sleep(1);
          throw new Error("mail server refused: 421 try again later");
        }),
      );
      for (let i = 1; i <= 6; i++) {
        app.inspector.counters.inc("rowsProcessed", i);
        app.inspector.counters.set("rowsWaiting", 7 - i);
        await new Promise((r) => setTimeout(r, 60));
      }
      app.inspector.counters.set("lastError", "row 3: mail server refused");

      const page = await openPage(app, 1100, 800, "?token=s3cret");
      await page.waitForSelector("#counters td.spark svg polyline");
      await page.waitForFunction(() =>
        (globalThis as any).document.querySelector("#panels")?.textContent?.includes("hub jobs"),
      );
      expect(await page.textContent("#panels")).toMatch(/published\s*1/);
      await page.waitForSelector(`li[data-name="row 17 (email)"]`);
      expect(await page.evaluate(() => (globalThis as { pwned?: number }).pwned)).toBeUndefined();
      expect(await page.textContent("#tree")).toContain("<img src=x onerror=window.pwned=1>");
      await page.close();

      const phone = await openPage(app, 375, 740, "?token=s3cret");
      await phone.waitForSelector(`li[data-name="row 17 (email)"]`);
      const overflow = await phone.evaluate(
        () =>
          (globalThis as any).document.documentElement.scrollWidth -
          (globalThis as any).document.documentElement.clientWidth,
      );
      expect(overflow).toBeLessThanOrEqual(0);
      expect(await phone.isVisible("#search")).toBe(true);
      expect(errorsOf(phone)).toEqual([]);
      await phone.close();

      const refused = await browser.newPage();
      const response = await refused.goto(app.inspector.url ?? "");
      expect(response?.status()).toBe(401);
      await refused.close();
    } finally {
      await app.task.halt();
    }
  });
});

function* spawnLabelled(name: string, options?: Parameters<typeof labelled>[2]): Operation<void> {
  const scope = yield* useScope();
  scope.run(() => labelled(name, suspend, options));
}
