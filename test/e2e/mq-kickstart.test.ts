import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { get as httpGet } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";

import { describe, expect, it } from "vitest";
import type { InspectorSnapshot } from "../../src/inspect/index.js";
import {
  killChildrenAfterEach,
  ROOT,
  startScript,
  tempDirEach,
} from "../helpers/child-processes.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { launchChromium } from "./helpers/chromium.js";

checkLeaksAfterEach({ timeoutMs: 5000 });

const MAIN = "examples/mq-kickstart/main.ts";
const PRODUCE = "examples/mq-kickstart/produce.ts";

// hooks after each test run last-registered first: the children are killed before their directory goes
const tempDir = tempDirEach("bough-mq-e2e-");
const track = killChildrenAfterEach();
const dbPath = () => join(tempDir(), "queue.sqlite");

interface App {
  child: ChildProcess;
  statusUrl: string;
  udpPort: number;
  output: { stdout: string; stderr: string };
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts main.ts as a child process and waits for its "ready" line. */
async function startApp(args: string[] = []): Promise<App> {
  const script = await startScript(
    track,
    MAIN,
    ["--db", dbPath(), "--http-port", "0", "--udp-port", "0", ...args],
    { ready: /ready: status (\S+) · udp [\d.]+:(\d+)/ },
  );
  const output = {
    get stdout() {
      return script.stdout();
    },
    get stderr() {
      return script.stderr();
    },
  };
  return {
    child: script.child,
    statusUrl: script.ready[1],
    udpPort: Number(script.ready[2]),
    output,
    exited: script.exited,
  };
}

/** Sends a signal and waits for a clean exit (cleanup ran, ports closed). */
async function stop(app: App, signal: "SIGTERM" | "SIGINT") {
  app.child.kill(signal);
  const exit = await app.exited;
  expect(exit).toEqual({ code: signal === "SIGTERM" ? 143 : 130, signal: null });
  expect(app.output.stdout).toMatch(/mq-kickstart stopped\n$/);
}

function runProduce(args: string[]): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ["--import", "tsx", PRODUCE, "--db", dbPath(), ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.once("exit", (code) =>
      code === 0 ? done(out) : fail(new Error(`produce.ts exited ${code}: ${out}`)),
    );
  });
}

/** GET on a connection of its own, so no keep-alive socket outlives the test. */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    httpGet(url, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (s: string) => (body += s));
      res.on("end", () => done({ status: res.statusCode ?? 0, body }));
    }).on("error", fail);
  });
}

async function status(app: App): Promise<InspectorSnapshot> {
  const res = await get(`${app.statusUrl}.json`);
  expect(res.status).toBe(200);
  return JSON.parse(res.body) as InspectorSnapshot;
}

async function waitFor<T>(
  check: () => T | undefined | null | false,
  ms: number,
  why: () => string,
) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(why());
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function waitForStatus(app: App, ok: (s: InspectorSnapshot) => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const snapshot = await status(app);
    if (ok(snapshot)) return snapshot;
    if (Date.now() > deadline) {
      throw new Error(`status never matched: ${JSON.stringify(snapshot.counters)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function openDb() {
  const handle = new Database(dbPath());
  handle.pragma("busy_timeout = 5000");
  return handle;
}

function sendDatagrams(port: number, payloads: (string | Buffer)[]): Promise<void> {
  const socket = createSocket("udp4");
  return new Promise<void>((done, fail) => {
    let left = payloads.length;
    for (const payload of payloads) {
      socket.send(payload, port, "127.0.0.1", (error) => {
        if (error) fail(error);
        else if (--left === 0) done();
      });
    }
  }).finally(() => new Promise<void>((r) => socket.close(() => r())));
}

function freeTcpPort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

function freeUdpPort(): Promise<number> {
  return new Promise((done) => {
    const socket = createSocket("udp4").bind(0, "127.0.0.1", () => {
      const { port } = socket.address();
      socket.close(() => done(port));
    });
  });
}

const counter = (s: InspectorSnapshot, name: string) => s.counters[name] as number;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe("examples/mq-kickstart", () => {
  it("handles a row at once when produce.ts kicks it, with a 60 s poll, and exits cleanly on SIGTERM", async () => {
    const [httpPort, udpPort] = await Promise.all([freeTcpPort(), freeUdpPort()]);
    const app = await startApp([
      "--poll-ms",
      "60000",
      "--http-port",
      String(httpPort),
      "--udp-port",
      String(udpPort),
    ]);
    expect(app.statusUrl).toBe(`http://127.0.0.1:${httpPort}/status`);
    expect(app.udpPort).toBe(udpPort);

    // the user's command: insert + kick
    const said = await runProduce([
      "--type",
      "email",
      "--data",
      "to: ops",
      "--udp-port",
      String(udpPort),
    ]);
    expect(said).toMatch(/inserted email row 1 and kicked/);
    await waitForStatus(app, (s) => counter(s, "rowsProcessed") === 1, 5_000);

    // latency of insert + kick → row gone, measured five times from this process
    const handle = openDb();
    const gone = handle.prepare("SELECT count(*) AS n FROM MessageQueue WHERE id = ?");
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const id = handle
        .prepare("INSERT INTO MessageQueue (type, data) VALUES ('report', ?)")
        .run(`latency ${i}`).lastInsertRowid;
      await sendDatagrams(udpPort, ["kick report"]);
      await waitFor(
        () => (gone.get(id) as { n: number }).n === 0,
        5_000,
        () => `row ${id} stayed`,
      );
      latencies.push(performance.now() - t0);
    }
    handle.close();
    expect(median(latencies)).toBeLessThan(200);
    expect(Math.max(...latencies)).toBeLessThan(2_000); // far under the 60 s poll even on a busy machine

    const snapshot = await status(app);
    expect(snapshot.counters).toMatchObject({
      rowsProcessed: 6,
      rowsFailed: 0,
      runsByTimer: 1, // the run at startup; every other run came from a kick
      lastError: null,
      overlaps: 0,
      rowsWaiting: 0,
    });
    // six kicks, but a kick that lands while a run is still finishing coalesces into it
    // (on a loaded machine one did: 5 runs); what must hold is that no run came from the timer
    expect(counter(snapshot, "runsByKick")).toBeGreaterThanOrEqual(1);
    expect(counter(snapshot, "runsByKick")).toBeLessThanOrEqual(6);
    expect(snapshot.stdout.some((l) => l.endsWith('sent email for row 1: "to: ops"'))).toBe(true);
    expect(
      snapshot.stdout.filter((l) => / built report for row \d+: "latency/.test(l)),
    ).toHaveLength(5);
    const app0 = snapshot.tree.children.find((c) => c.name === "mq-kickstart");
    expect(app0?.children.map((c) => c.name)).toEqual([
      expect.stringMatching(/^consumer \(idle; next poll by /),
    ]);

    await stop(app, "SIGTERM");
    // nothing leaked: the ports can be bound app at once
    await new Promise<void>((done, fail) => {
      const socket = createSocket("udp4");
      socket.once("error", fail);
      socket.bind(udpPort, "127.0.0.1", () => socket.close(() => done()));
    });
    await new Promise<void>((done, fail) => {
      const server = createServer().once("error", fail);
      server.listen(httpPort, "127.0.0.1", () => server.close(() => done()));
    });
  });

  it("handles a row whose kick was lost at the next poll", async () => {
    const app = await startApp(["--poll-ms", "1500"]);
    await waitForStatus(app, (s) => counter(s, "iterations") === 1);
    const t0 = Date.now();
    await runProduce(["--type", "report", "--data", "no kick for me", "--no-kick"]);
    const snapshot = await waitForStatus(app, (s) => counter(s, "rowsProcessed") === 1);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(counter(snapshot, "runsByKick")).toBe(0);
    expect(counter(snapshot, "runsByTimer")).toBeGreaterThanOrEqual(2);
    expect(
      snapshot.stdout.some((l) => l.includes('built report for row 1: "no kick for me"')),
    ).toBe(true);
    await stop(app, "SIGTERM");
  });

  it("leaves a failing row in the queue, logs it and shows it as the last error; exits on SIGINT", async () => {
    const app = await startApp(["--poll-ms", "60000"]);
    await runProduce([
      "--type",
      "email",
      "--data",
      "please fail",
      "--udp-port",
      String(app.udpPort),
    ]);
    await runProduce(["--type", "email", "--data", "fine", "--udp-port", String(app.udpPort)]);
    const snapshot = await waitForStatus(app, (s) => counter(s, "rowsProcessed") === 1);
    expect(snapshot.counters.lastError).toBe("cannot handle email row 1: its data asks to fail");
    expect(counter(snapshot, "rowsFailed")).toBeGreaterThanOrEqual(1);
    expect(snapshot.counters.rowsWaiting).toBe(1);
    expect(
      snapshot.stderr.some((l) =>
        l.endsWith("row 1 left in the queue: cannot handle email row 1: its data asks to fail"),
      ),
    ).toBe(true);
    const handle = openDb();
    expect(handle.prepare("SELECT id, type, data FROM MessageQueue").all()).toEqual([
      { id: 1, type: "email", data: "please fail" },
    ]);
    handle.close();
    await stop(app, "SIGINT");
  });

  it("ignores and counts garbage datagrams without running the consumer", async () => {
    const app = await startApp(["--poll-ms", "60000"]);
    await waitForStatus(app, (s) => counter(s, "iterations") === 1);
    const garbage = [
      Buffer.alloc(0),
      Buffer.from([0xff, 0x00, 0x13, 0x37]),
      "kickoff",
      "KICK",
      '{"kick":true}',
      Buffer.alloc(1400, 0x41),
    ];
    await sendDatagrams(app.udpPort, garbage);
    let snapshot = await waitForStatus(
      app,
      (s) => counter(s, "datagramsIgnored") === garbage.length,
    );
    expect(counter(snapshot, "iterations")).toBe(1);
    expect(counter(snapshot, "kicks")).toBe(0);
    await sendDatagrams(app.udpPort, ["kick"]);
    snapshot = await waitForStatus(app, (s) => counter(s, "iterations") === 2);
    expect(snapshot.counters).toMatchObject({
      datagrams: garbage.length + 1,
      kicks: 1,
      runsByKick: 1,
    });
    await stop(app, "SIGTERM");
  });

  it("loses no row and never overlaps runs under 35 producers × 100 kicks/s for 3 s", async () => {
    const app = await startApp(["--poll-ms", "60000"]);
    await waitForStatus(app, (s) => counter(s, "iterations") === 1);
    const handle = openDb();
    const insert = handle.prepare("INSERT INTO MessageQueue (type, data) VALUES (?, ?)");
    const insertMany = handle.transaction((round: number) => {
      for (let p = 0; p < 35; p++)
        insert.run(p % 2 ? "email" : "report", `producer ${p} round ${round}`);
    });
    const sockets = Array.from({ length: 35 }, () => createSocket("udp4"));
    const rounds = 300;
    let sent = 0;
    const t0 = performance.now();
    try {
      for (let round = 0; round < rounds; round++) {
        insertMany(round);
        for (const socket of sockets) {
          socket.send(`kick ${round}`, app.udpPort, "127.0.0.1", (error) => {
            if (!error) sent++;
          });
        }
        const next = t0 + (round + 1) * 10; // 100 rounds a second, drift-free
        await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
      }
    } finally {
      await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
      handle.close();
    }
    const total = rounds * 35;
    const snapshot = await waitForStatus(
      app,
      (s) => counter(s, "rowsProcessed") === total && s.counters.rowsWaiting === 0,
      30_000,
    );
    expect(snapshot.counters).toMatchObject({ rowsFailed: 0, overlaps: 0, datagramsIgnored: 0 });
    // the status page keeps exactly the last 1000 lines of a much longer output
    expect(snapshot.stdout).toHaveLength(1000);
    // each run handles every row it finds, so far fewer runs than kicks
    expect(counter(snapshot, "iterations")).toBeLessThan(total);
    console.info(
      `35 × 100 kicks/s: ${sent} sent, ${snapshot.counters.datagrams} received, ${total} rows handled in ${snapshot.counters.iterations} runs`,
    );
    expect(counter(snapshot, "datagrams")).toBeGreaterThan(0);
    await stop(app, "SIGTERM");
  }, 90_000); // a 3 s load, then however long a busy machine takes to drain it

  it("renders the status page in Chromium, escapes captured markup and refreshes in place", async () => {
    const app = await startApp(["--poll-ms", "60000"]);
    await runProduce([
      "--type",
      "email",
      "--data",
      "<script>window.pwned = 1</script>",
      "--udp-port",
      String(app.udpPort),
    ]);
    await waitForStatus(app, (s) => counter(s, "rowsProcessed") === 1);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
      await page.goto(app.statusUrl);
      await page.waitForSelector("#stdout");
      expect(await page.textContent("#stdout")).toContain('"<script>window.pwned = 1</script>"');
      expect(await page.evaluate(() => (globalThis as { pwned?: number }).pwned)).toBeUndefined();
      expect(await page.textContent("#counters")).toMatch(/rowsProcessed\s*1/);
      expect(await page.textContent("#tree")).toMatch(/mq-kickstart.*consumer/s);

      // a new row shows up without a reload
      await runProduce([
        "--type",
        "report",
        "--data",
        "fail this one",
        "--udp-port",
        String(app.udpPort),
      ]);
      await page.waitForFunction(
        () =>
          (globalThis as any).document
            .querySelector("#stderr")
            ?.textContent?.includes("row 2 left in the queue"),
        undefined,
        { timeout: 10_000 },
      );
      expect(await page.textContent("#counters")).toContain("cannot handle report row 2");
      const shot = join(tmpdir(), "bough-mq-kickstart-status.png");
      await page.screenshot({ path: shot, fullPage: true });
      console.info(`status page screenshot: ${shot}`);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
    await stop(app, "SIGTERM");
  }, 90_000); // the app, two producer processes and Chromium: a busy CI machine took over 30 s
});
