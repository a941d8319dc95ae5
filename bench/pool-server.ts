/**
 * bench pool-server: what idle and connecting clients cost a worker server
 * (forked with `useWorkerServer`, process workers). 1,000 connections that
 * never say hello: forks and server RSS growth; 200 clients that each connect,
 * make one call and leave: time until all are served. Run:
 * `npx tsx bench/pool-server.ts` (writes bench/results/pool-server.{json,md}).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { all, run, scoped, sleep, until } from "effection";
import { usePool, useWorkerServer } from "../src/pool/index.js";
import type echoWorker from "../test/pool/fixtures/echo-worker.js";

const worker = new URL("../test/pool/fixtures/echo-worker.ts", import.meta.url);
const IDLE = Number(process.env.IDLE_N ?? 1000);
const CLIENTS = Number(process.env.CLIENTS_N ?? 200);

const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
const children = (pid: number) => {
  try {
    return execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
      .trim()
      .split("\n").length;
  } catch {
    return 0;
  }
};

const dir = mkdtempSync(join(tmpdir(), "bough-bench-server-"));
try {
  const results = await run(function* () {
    const path = join(dir, "s.sock");
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
    const idle = {
      connections: IDLE,
      forks: children(server.pid),
      rssBeforeMb: Math.round(rssBefore),
      rssAfterMb: Math.round(rssMb(server.pid)),
    };
    for (const socket of sockets) socket.destroy();
    yield* sleep(200);

    const started = performance.now();
    const times: number[] = [];
    yield* all(
      Array.from({ length: CLIENTS }, () =>
        scoped(function* () {
          const pool = yield* usePool<typeof echoWorker>({
            connect: { path },
            maxWorkers: 1,
            retryDelay: 20,
            timeout: 120_000,
          });
          yield* pool.run("inc", 1);
          times.push(performance.now() - started);
        }),
      ),
    );
    const total = performance.now() - started;
    times.sort((a, b) => a - b);
    return {
      idle,
      connecting: {
        clients: CLIENTS,
        maxWorkers: "default (4 × CPU)",
        allServedMs: Math.round(total),
        p50Ms: Math.round(times[Math.floor(times.length / 2)]),
      },
    };
  });
  console.log(JSON.stringify(results, null, 2));
  const out = new URL("results/", import.meta.url);
  writeFileSync(new URL("pool-server.json", out), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(
    new URL("pool-server.md", out),
    [
      "# pool server under idle and connecting clients",
      "",
      "`npx tsx bench/pool-server.ts` — a forked `useWorkerServer`, process workers, 2 shared cores.",
      "",
      "| scenario | figure |",
      "| --- | --- |",
      `| ${results.idle.connections} connections that never say hello | ${results.idle.forks} forks; server RSS ${results.idle.rssBeforeMb} → ${results.idle.rssAfterMb} MB |`,
      `| ${results.connecting.clients} clients, each connect + one call + leave | all served in ${results.connecting.allServedMs} ms (median client ${results.connecting.p50Ms} ms) |`,
      "",
    ].join("\n"),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
