/**
 * bench pool-server: what idle and connecting clients cost a worker server
 * (forked with `useWorkerServer`). Workers that exit right after returning:
 * bench/pool-exits.ts.
 *
 * - 1,000 connections that never say hello: forks and server RSS growth.
 * - 200 clients that each connect, make one call and leave, with thread and
 *   with process workers: time until each is served (connect + hello + its
 *   worker ready + one call), the server's peak memory (alone, and with its
 *   worker processes), its memory once all left, and its CPU time.
 *
 * Runs on the built package (`npm run build` first) with a plain JavaScript
 * worker (bench/pool-server-worker.js), as in production: from source, every
 * worker would first load tsx.
 *
 * Run: `npm run bench -- pool-server` (writes bench/results/pool-server.{json,md}).
 * `IDLE_N` and `CLIENTS_N` change the counts.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { all, run, scoped, sleep, spawn, until } from "effection";
import { table, writeResults } from "./report.js";

// The built package and a plain JavaScript worker: workers start as they would
// in production (from source, every worker would first load tsx).
const dist = new URL("../dist/pool/index.js", import.meta.url);
if (!existsSync(dist)) {
  console.error("bench pool-server runs on the built package: run `npm run build` first");
  process.exit(2);
}
const { usePool, useWorkerServer } = (await import(
  dist.href
)) as typeof import("../src/pool/index.js");
const worker = new URL("./pool-server-worker.js", import.meta.url);
const IDLE = Number(process.env.IDLE_N ?? 1000);
const CLIENTS = Number(process.env.CLIENTS_N ?? 200);

type Echo = { inc(x: number): number; exitAfter<T>(value: T): T };

/** Resident memory of a process in MB (0 once it is gone). */
function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** Child process ids of a process. */
function children(pid: number): number[] {
  try {
    return execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds of a process and of its reaped children (utime + stime + cutime + cstime). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): utime is field 14
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return ticks / 100;
}

const load = () => loadavg().map((l) => Number(l.toFixed(2)));
const pct = (sorted: number[], p: number) =>
  Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]);

function* idleConnections(dir: string) {
  const path = join(dir, "idle.sock");
  const server = yield* useWorkerServer({
    listen: { path },
    worker,
    limits: { handshakeTimeoutMs: 60_000, maxConnections: IDLE + 10 },
  });
  yield* sleep(500);
  const rssBefore = rssMb(server.pid);
  const sockets: Socket[] = [];
  yield* until(
    Promise.all(
      Array.from(
        { length: IDLE },
        () =>
          new Promise<void>((resolve, reject) => {
            const socket = connect({ path }, () => resolve());
            socket.on("error", reject);
            sockets.push(socket);
          }),
      ),
    ),
  );
  yield* sleep(500);
  const result = {
    connections: IDLE,
    forks: children(server.pid).length,
    rssBeforeMb: Math.round(rssBefore),
    rssAfterMb: Math.round(rssMb(server.pid)),
  };
  for (const socket of sockets) socket.destroy();
  return result;
}

function* connectingClients(dir: string, transport: "thread" | "process") {
  const path = join(dir, `${transport}.sock`);
  const server = yield* useWorkerServer({ listen: { path }, worker, transport });
  yield* sleep(500);
  const rssIdle = rssMb(server.pid);
  const cpuBefore = cpuSeconds(server.pid);
  let peakServer = rssIdle;
  let peakTotal = rssIdle;
  let peakWorkers = 0;
  const sampler = yield* spawn(function* () {
    for (;;) {
      const kids = children(server.pid);
      const own = rssMb(server.pid);
      peakServer = Math.max(peakServer, own);
      peakTotal = Math.max(peakTotal, own + kids.reduce((sum, pid) => sum + rssMb(pid), 0));
      peakWorkers = Math.max(peakWorkers, kids.length);
      yield* sleep(100);
    }
  });
  const started = performance.now();
  const times: number[] = [];
  const failures: string[] = [];
  yield* all(
    Array.from({ length: CLIENTS }, () =>
      scoped(function* () {
        const pool = yield* usePool<Echo>({
          connect: { path },
          maxWorkers: 1,
          retryDelayMs: 20,
          timeoutMs: 300_000,
        });
        try {
          yield* pool.run("inc", 1);
          times.push(performance.now() - started);
        } catch (error) {
          failures.push(String(error));
        }
      }),
    ),
  );
  const allServedMs = performance.now() - started;
  yield* sampler.halt();
  // what the server keeps once every client has left
  yield* sleep(1_000);
  const rssAfter = rssMb(server.pid);
  const cpu = cpuSeconds(server.pid) - cpuBefore;
  times.sort((a, b) => a - b);
  return {
    transport,
    clients: CLIENTS,
    served: times.length,
    failed: failures.length,
    maxWorkers: "server default (4 × CPU count)",
    peakWorkerProcesses: peakWorkers,
    allServedMs: Math.round(allServedMs),
    p50Ms: pct(times, 0.5),
    p95Ms: pct(times, 0.95),
    serverRssIdleMb: Math.round(rssIdle),
    serverRssPeakMb: Math.round(peakServer),
    serverAndWorkersRssPeakMb: Math.round(peakTotal),
    serverRssAfterMb: Math.round(rssAfter),
    serverCpuS: Number(cpu.toFixed(1)),
  };
}

const dir = mkdtempSync(join(tmpdir(), "bough-bench-server-"));
try {
  const loadBefore = load();
  const results = await run(function* () {
    const idle = yield* scoped(() => idleConnections(dir));
    const connecting = [];
    for (const transport of ["thread", "process"] as const) {
      connecting.push(yield* scoped(() => connectingClients(dir, transport)));
    }
    return { idle, connecting };
  });
  const loadAfter = load();
  const data = { loadavg: { before: loadBefore, after: loadAfter }, ...results };
  const c = results.connecting;
  const md = [
    `Load average (1, 5, 15 min) before: ${loadBefore.join(", ")}; after: ${loadAfter.join(", ")} (2 cores shared with other work: read times as upper bounds).`,
    "",
    "## Idle connections (a forked `useWorkerServer`, process workers)",
    "",
    table(
      ["connections that never say hello", "workers forked", "server RSS before → after"],
      [
        [
          results.idle.connections,
          results.idle.forks,
          `${results.idle.rssBeforeMb} → ${results.idle.rssAfterMb} MB`,
        ],
      ],
    ),
    "",
    `## ${CLIENTS} clients, each connects, says hello, makes one call and leaves`,
    "",
    "Each client is its own `usePool({ connect })` with one worker; the server runs at most 4 × CPU count workers and refuses the rest as busy, and they retry (every 20 ms, backing off to 100 ms) until served. Time is from the start until the client's call returned (connect + hello + its worker ready + one call); memory is sampled every 100 ms.",
    "",
    table(
      [
        "workers",
        "served / failed",
        "all served",
        "median client",
        "p95 client",
        "server RSS idle → peak → after",
        "server + worker processes, peak RSS",
        "server CPU (incl. reaped workers)",
      ],
      c.map((r) => [
        r.transport,
        `${r.served} / ${r.failed}`,
        `${(r.allServedMs / 1000).toFixed(1)} s`,
        `${(r.p50Ms / 1000).toFixed(1)} s`,
        `${(r.p95Ms / 1000).toFixed(1)} s`,
        `${r.serverRssIdleMb} → ${r.serverRssPeakMb} → ${r.serverRssAfterMb} MB`,
        r.transport === "process"
          ? `${r.serverAndWorkersRssPeakMb} MB`
          : "(threads: in the server)",
        `${r.serverCpuS} s`,
      ]),
    ),
    "",
    "Workers run bench/pool-server-worker.js on the built package (no tsx), as in production.",
    "",
    "Before the handshake (issue 15), 200 connecting clients with thread workers got 38 ready in 67 s, and the server held 842 MB after all had closed.",
  ].join("\n");
  writeResults("pool-server", data, md);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
