/**
 * Regenerates the inspector's screenshots in docs/guides/img: `inspect-desktop.png`
 * (1280×800) and `inspect-phone.png` (375×740).
 *
 *   node --import tsx scripts/inspect-screenshots.ts [out-dir]
 *
 * It starts a small in-memory "orders service" (a ticker that takes orders and
 * publishes them on a hub, a stalled hub subscriber, an HTTP server with two
 * SSE clients, a selector dispatching thumbnail calls to a two-worker pool, a
 * task failing and one halting), mounts the inspector on 127.0.0.1 (any free
 * port), opens the page in headless Chromium, waits until the page shows all
 * of it (on the page's own DOM, no fixed sleeps), saves the PNGs and stops
 * everything. The service's log lines are captured for the page, and so also
 * appear here.
 */
import { statSync } from "node:fs";
import { type ClientRequest, request } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  each,
  run,
  type Scope,
  spawn,
  suspend,
  type Task,
  until,
  useScope,
  withResolvers,
} from "effection";
import type { Browser, Page } from "playwright-core";
import { createRouter, json, sse, useServer } from "../src/http/index.js";
import { useHub } from "../src/hub/index.js";
import { label, labelled, useSelector } from "../src/index.js";
import { type Inspector, useInspector } from "../src/inspect/index.js";
import { type Pool, usePool } from "../src/pool/index.js";
import type { InterfaceOf } from "../src/pool/worker-definition.js";
import { ticker } from "../src/sources/index.js";
import { launchChromium } from "../test/e2e/helpers/chromium.js";
import type thumbnailWorker from "./inspect-screenshots-worker.js";

const outDir = process.argv[2] ?? fileURLToPath(new URL("../docs/guides/img/", import.meta.url));
const WAIT_MS = 30_000;
/** Errors the pages reported: any fails the run. */
const pageErrors: string[] = [];
/** What was written, told once the inspector no longer captures stdout (not on the phone's page). */
const written: string[] = [];

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(e: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}

interface Demo {
  task: Task<void>;
  scope: Scope;
  inspector: Inspector;
  pool: Pool<InterfaceOf<typeof thumbnailWorker>>;
  /** The demo's HTTP server. */
  url: string;
}

/** The demo service: everything that registers a panel, started before anyone watches. */
async function startDemo(): Promise<Demo> {
  const ready = deferred<Omit<Demo, "task">>();
  const task = run(function* () {
    yield* label("orders service", { attributes: { region: "eu-west-1" } });
    const inspector = yield* useInspector({
      capture: { lines: 200 },
      listen: { port: 0, title: "orders service" },
      live: { sampleMs: 100 },
    });
    const { counters } = inspector;
    counters.set("ordersAccepted", 0);
    counters.set("queueDepth", 0);
    counters.set("lastError", null);
    const pool = yield* usePool<typeof thumbnailWorker>({
      worker: new URL("./inspect-screenshots-worker.ts", import.meta.url),
      name: "thumbnails",
      minWorkers: 2,
      maxWorkers: 2,
      timeoutMs: Number.POSITIVE_INFINITY,
    });
    const hub = yield* useHub<{ id: number; total: number }>({ topic: "orders", buffer: 256 });

    yield* spawn(() =>
      labelled(
        "intake",
        function* () {
          let id = 1000;
          for (const tick of yield* each(ticker({ intervalMs: 200 }))) {
            id++;
            yield* hub.publish({ id, total: 10 + ((id * 37) % 90) });
            counters.inc("ordersAccepted", 1 + (tick.n % 3));
            counters.set("queueDepth", Math.round(6 + 5 * Math.sin(tick.n / 2)));
            if (tick.n % 5 === 0) process.stdout.write(`intake: order ${id} accepted\n`);
            yield* each.next();
          }
        },
        { attributes: { every: "200 ms" } },
      ),
    );
    yield* spawn(() =>
      labelled(
        "audit log",
        function* () {
          yield* hub.subscribe(); // subscribed, never reads: the hub's lag
          yield* suspend();
        },
        { kind: "resource", attributes: { topic: "orders" } },
      ),
    );
    const served = withResolvers<string>();
    yield* spawn(function* () {
      yield* label("http api", { kind: "resource" });
      const router = createRouter()
        .get("/health", function* () {
          return json({ ok: true });
        })
        .get("/orders/stream", function* () {
          return sse(hub.subscribe(), { data: (message) => JSON.stringify(message.value) });
        });
      const server = yield* useServer({ handler: router, shutdownGraceMs: 100 });
      served.resolve(server.url);
      yield* suspend();
    });
    const url = yield* served.operation;
    process.stdout.write(`orders service: api on ${url}, status on ${inspector.url}\n`);
    ready.resolve({ scope: yield* useScope(), inspector, pool, url });
    yield* suspend();
  });
  task.catch((error) => ready.reject(error));
  return { task, ...(await ready.promise) };
}

/**
 * What happens while the page watches (HTTP requests, selector items and pool
 * calls show as nodes only then): two SSE clients, three thumbnail calls for
 * two workers, a failed import and an export that is slow to halt.
 */
async function activity(demo: Demo, cleanup: Promise<void>): Promise<() => void> {
  const clients: ClientRequest[] = [];
  for (let i = 0; i < 2; i++) {
    await new Promise<void>((resolve, reject) => {
      const client = request(`${demo.url}/orders/stream`, { agent: false }, (res) => {
        res.resume();
        resolve();
      });
      client.on("error", reject);
      client.end();
      clients.push(client);
    });
  }
  demo.scope.run(() =>
    labelled(
      "dispatcher",
      function* () {
        const selector = yield* useSelector<string, string>();
        for (const id of [1041, 1042, 1043]) {
          selector.add(`order ${id}`, demo.pool.run("thumbnail", id));
        }
        process.stdout.write("dispatcher: 3 thumbnails queued for 2 workers\n");
        for (;;) yield* selector.select();
      },
      { attributes: { pool: "thumbnails" } },
    ),
  );
  demo.scope.run(function* () {
    try {
      yield* labelled("importer", () =>
        labelled(
          "batch 12",
          function* () {
            demo.inspector.counters.set("lastError", 'batch 12: row 7: price "12,50"');
            process.stderr.write(
              'importer: batch 12 failed: row 7: price "12,50" is not a number\n',
            );
            throw new RangeError('row 7: price "12,50" is not a number');
          },
          { attributes: { file: "orders-2026-12-02.csv", rows: 250 } },
        ),
      );
    } catch {
      // kept by the inspector's failure list; the service goes on
    }
  });
  const exporter = demo.scope.run(() =>
    labelled(
      "nightly export",
      function* () {
        try {
          yield* suspend();
        } finally {
          yield* until(cleanup); // shows as halting until the script lets it go
        }
      },
      { attributes: { target: "s3://exports/orders" } },
    ),
  );
  ignore(exporter.halt());
  return () => {
    for (const client of clients) client.destroy();
  };
}

function ignore(promise: PromiseLike<unknown>): void {
  promise.then(
    () => {},
    () => {},
  );
}

/**
 * Waits, on the page's DOM, until it shows every part of the demo. (The
 * predicate runs in the page: no named inner functions, which tsx would wrap
 * in a helper the page does not have.)
 */
async function shown(page: Page): Promise<void> {
  await page
    .waitForFunction(
      () => {
        const d = (globalThis as any).document;
        const panels: Record<string, Record<string, string>> = {};
        for (const table of d.querySelectorAll("table.panel")) {
          const values: Record<string, string> = {};
          for (const row of table.rows) values[row.cells[0].textContent] = row.cells[1].textContent;
          panels[table.caption.textContent] = values;
        }
        const http = Object.entries(panels).find(([caption]) => caption.startsWith("http "));
        const ticker = Object.entries(panels).find(([caption]) =>
          caption.startsWith("source ticker"),
        );
        const pool = panels["pool thumbnails"] ?? {};
        const hub = panels["hub orders"] ?? {};
        return (
          pool.busy === "2" &&
          pool.waiting === "1" &&
          hub.subscribers === "3" &&
          /^max [1-9]/.test(hub.lag ?? "") &&
          (http?.[1].routes ?? "").includes("GET /orders/stream 2") &&
          Number(ticker?.[1].ticks ?? 0) >= 10 &&
          (d.querySelector("#counters polyline")?.points.numberOfItems ?? 0) >= 20 &&
          d.querySelectorAll('li[data-name="thumbnail"]').length === 3 &&
          d.querySelectorAll('li[data-name="GET /orders/stream"]').length === 2 &&
          d.querySelectorAll('li[data-name="nightly export"][data-state="halting"]').length === 1 &&
          d.querySelectorAll("#failures li").length >= 1 &&
          (d.querySelector("#stdout")?.textContent ?? "").includes("dispatcher:") &&
          (d.querySelector("#stderr")?.textContent ?? "").includes("batch 12 failed")
        );
      },
      undefined,
      { timeout: WAIT_MS, polling: "raf" },
    )
    .catch((error) => {
      throw new Error(`the page did not show every part of the demo within ${WAIT_MS} ms`, {
        cause: error,
      });
    });
}

async function open(browser: Browser, url: string, width: number, height: number): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(message.text());
  });
  await page.goto(url);
  await page.waitForSelector("body[data-live]", { timeout: WAIT_MS });
  return page;
}

async function shoot(page: Page, name: string): Promise<void> {
  const path = join(outDir, name);
  await page.screenshot({ path, fullPage: true });
  written.push(`wrote ${path} (${Math.round(statSync(path).size / 1024)} KB)`);
}

const demo = await startDemo();
const browser = await launchChromium();
const cleanup = deferred<void>();
let stopClients = () => {};
try {
  const url = demo.inspector.url ?? "";
  const desktop = await open(browser, url, 1280, 800);
  stopClients = await activity(demo, cleanup.promise);
  await shown(desktop);
  await shoot(desktop, "inspect-desktop.png");

  const phone = await open(browser, url, 375, 740);
  await shown(phone);
  await shoot(phone, "inspect-phone.png");
  if (pageErrors.length > 0) throw new Error(`the page reported errors: ${pageErrors.join("; ")}`);
} finally {
  await browser.close();
  stopClients();
  cleanup.resolve();
  await demo.task.halt();
}
for (const line of written) console.info(line);
