/**
 * bench pool: bough/pool (thread, process, remote over a unix socket) against
 * piscina, tinypool, workerpool and the floor (bare worker threads), 2 workers
 * each, on `x => x + 1` and a 1 ms CPU task. Run: `npm run bench -- pool`.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { all, type Operation, run, scoped, until } from "effection";
import { Piscina } from "piscina";
import Tinypool from "tinypool";
import workerpool from "workerpool";
import { type Pool, usePool, useWorkerServer } from "../src/pool/index.js";
import type benchWorker from "../test/pool/fixtures/bench-worker.js";
import { median, table, writeResults } from "./report.js";

const fixtures = new URL("../test/pool/fixtures/", import.meta.url);
const boughWorker = new URL("bench-worker.ts", fixtures);
const taskFile = new URL("bench-task.js", fixtures);
const workerpoolFile = new URL("bench-workerpool.js", fixtures);
const bareFile = new URL("bench-bare.js", fixtures);

const WORKERS = 2;
const LAT_N = Number(process.env.POOL_BENCH_LAT_N ?? 3000);
const INC_N = Number(process.env.POOL_BENCH_INC_N ?? 40_000);
const CPU_N = Number(process.env.POOL_BENCH_CPU_N ?? 1000);
const CONCURRENCY = 16;
const COLD_ROUNDS = Number(process.env.POOL_COLD_ROUNDS ?? 5);

type Call = (x: number) => Promise<number>;

interface Peer {
  name: string;
  open(): Promise<{ call: Call; close(): Promise<void> }>;
}

/** The floor: bare worker threads, each answering in order (no pool logic at all). */
function bare(): Peer {
  return {
    name: "bare Worker (floor)",
    async open() {
      const workers = Array.from({ length: WORKERS }, () => {
        const worker = new Worker(bareFile);
        const pending: ((value: number) => void)[] = [];
        worker.on("message", (value: number) => pending.shift()!(value));
        return { worker, pending };
      });
      await Promise.all(workers.map((w) => new Promise((r) => w.worker.once("online", r))));
      let next = 0;
      return {
        call(x) {
          // Least loaded worker (round-robin on ties).
          let w = workers[next++ % WORKERS];
          for (const other of workers) if (other.pending.length < w.pending.length) w = other;
          return new Promise<number>((resolve) => {
            w.pending.push(resolve);
            w.worker.postMessage(x);
          });
        },
        async close() {
          await Promise.all(workers.map((w) => w.worker.terminate()));
        },
      };
    },
  };
}

const peers: Peer[] = [
  bare(),
  {
    name: "piscina",
    async open() {
      const pool = new Piscina({
        filename: taskFile.href,
        minThreads: WORKERS,
        maxThreads: WORKERS,
      });
      return { call: (x) => pool.run(x), close: () => pool.destroy() };
    },
  },
  {
    name: "tinypool",
    async open() {
      const pool = new Tinypool({
        filename: taskFile.href,
        minThreads: WORKERS,
        maxThreads: WORKERS,
      });
      return { call: (x) => pool.run(x), close: () => pool.destroy() };
    },
  },
  {
    name: "workerpool",
    async open() {
      const pool = workerpool.pool(workerpoolFile.pathname, {
        minWorkers: WORKERS,
        maxWorkers: WORKERS,
        workerType: "thread",
      });
      return {
        call: (x) => pool.exec("task", [x]) as unknown as Promise<number>,
        close: async () => {
          await pool.terminate();
        },
      };
    },
  },
];

interface Row {
  name: string;
  latMedianUs: number;
  latP99Us: number;
  incOpsPerSec: number;
  cpuOpsPerSec: number;
  checkoutMedianUs?: number;
  checkoutP99Us?: number;
}

const p99 = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))];
};

/** Calls per second of `n` calls of `call(arg(i))` from {@link CONCURRENCY} callers, each awaiting its own. */
async function peerThroughput(call: Call, n: number, arg: (i: number) => number): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, k) => {
      for (let i = k; i < n; i += CONCURRENCY) await call(arg(i));
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

/** As {@link peerThroughput}, for a bough pool: `n` runs of `method` from {@link CONCURRENCY} callers. */
function* boughThroughput(
  pool: Pool<import("../src/pool/index.js").InterfaceOf<Bench>>,
  method: "inc" | "spin",
  n: number,
  arg: (i: number) => number,
): Operation<number> {
  const t0 = performance.now();
  yield* all(
    Array.from({ length: CONCURRENCY }, (_, k) =>
      (function* () {
        for (let i = k; i < n; i += CONCURRENCY) yield* pool.run(method, arg(i));
      })(),
    ),
  );
  return n / ((performance.now() - t0) / 1000);
}

/** The rate of equal-sized rounds taken together (total calls over total time). */
const harmonicMean = (rates: number[]) => rates.length / rates.reduce((sum, r) => sum + 1 / r, 0);

async function measurePeer(peer: Peer): Promise<Row> {
  const p = await peer.open();
  for (let i = 0; i < 500; i++) await p.call(i);
  const lat: number[] = [];
  for (let i = 0; i < LAT_N; i++) {
    const t0 = performance.now();
    await p.call(i);
    lat.push((performance.now() - t0) * 1000);
  }
  const inc = median([
    await peerThroughput(p.call, INC_N, (i) => i),
    await peerThroughput(p.call, INC_N, (i) => i),
  ]);
  const cpu = await peerThroughput(p.call, CPU_N, () => -1);
  await p.close();
  return {
    name: peer.name,
    latMedianUs: median(lat),
    latP99Us: p99(lat),
    incOpsPerSec: inc,
    cpuOpsPerSec: cpu,
  };
}

type Bench = typeof benchWorker;

function* measureBoughPool(
  name: string,
  open: () => Operation<Pool<import("../src/pool/index.js").InterfaceOf<Bench>>>,
): Operation<Row> {
  return yield* scoped(function* () {
    const pool = yield* open();
    for (let i = 0; i < 500; i++) yield* pool.run("inc", i);
    const lat: number[] = [];
    for (let i = 0; i < LAT_N; i++) {
      const t0 = performance.now();
      yield* pool.run("inc", i);
      lat.push((performance.now() - t0) * 1000);
    }
    const checkoutLat: number[] = [];
    for (let i = 0; i < LAT_N; i++) {
      const t0 = performance.now();
      yield* scoped(function* () {
        const checkout = yield* pool.checkout();
        yield* checkout.call("inc", i);
      });
      checkoutLat.push((performance.now() - t0) * 1000);
    }
    const inc = median([
      yield* boughThroughput(pool, "inc", INC_N, (i) => i),
      yield* boughThroughput(pool, "inc", INC_N, (i) => i),
    ]);
    const cpu = yield* boughThroughput(pool, "spin", CPU_N, () => 1);
    return {
      name,
      latMedianUs: median(lat),
      latP99Us: p99(lat),
      incOpsPerSec: inc,
      cpuOpsPerSec: cpu,
      checkoutMedianUs: median(checkoutLat),
      checkoutP99Us: p99(checkoutLat),
    };
  });
}

/**
 * The round-trip goals compare bough thread with the floor and bough remote
 * with bough thread at the same moment: alternating rounds of sequential
 * calls, so that load from other processes on the machine weighs on all alike;
 * so does the throughput goal (x + 1 from 16 callers, bough thread against
 * piscina, 6 rounds in ABBA order), and the 1 ms CPU task.
 */
function* interleavedRoundTrips(rounds: number, perRound: number, socketPath: string) {
  const floorPeer = yield* until(bare().open());
  try {
    return yield* scoped(function* () {
      const options = { minWorkers: WORKERS, maxWorkers: WORKERS };
      const thread = yield* usePool<Bench>({ worker: boughWorker, ...options });
      const server = yield* useWorkerServer({ listen: { path: socketPath }, worker: boughWorker });
      const remote = yield* usePool<Bench>({ connect: server.address, ...options });
      const samples = { floor: [] as number[], thread: [] as number[], remote: [] as number[] };
      function* timed(pool: typeof thread, into: number[] | undefined, n: number) {
        for (let i = 0; i < n; i++) {
          const t0 = performance.now();
          yield* pool.run("inc", i);
          into?.push((performance.now() - t0) * 1000);
        }
      }
      const timedFloor = (into: number[] | undefined, n: number) =>
        until(
          (async () => {
            for (let i = 0; i < n; i++) {
              const t0 = performance.now();
              await floorPeer.call(i);
              into?.push((performance.now() - t0) * 1000);
            }
          })(),
        );
      yield* timed(thread, undefined, 1000);
      yield* timed(remote, undefined, 1000);
      yield* timedFloor(undefined, 1000);
      for (let r = 0; r < rounds; r++) {
        yield* timedFloor(samples.floor, perRound);
        yield* timed(thread, samples.thread, perRound);
        yield* timed(remote, samples.remote, perRound);
      }
      const summary = (values: number[]) => ({ medianUs: median(values), p99Us: p99(values) });

      // x + 1 and the 1 ms CPU task, bough thread vs piscina, in alternating rounds.
      const piscinaPeer = yield* until(peers.find((p) => p.name === "piscina")!.open());
      const inc = { thread: [] as number[], piscina: [] as number[] };
      const cpu = { thread: [] as number[], piscina: [] as number[] };
      try {
        const perIncRound = Math.max(CONCURRENCY, Math.floor(INC_N / 4));
        const threadInc = () => boughThroughput(thread, "inc", perIncRound, (i) => i);
        const piscinaInc = () => until(peerThroughput(piscinaPeer.call, perIncRound, (i) => i));
        // a warm-up each (not kept), then 6 rounds in ABBA order (neither always goes first)
        yield* threadInc();
        yield* piscinaInc();
        for (let r = 0; r < 6; r++) {
          if (r % 2 === 0) {
            inc.thread.push(yield* threadInc());
            inc.piscina.push(yield* piscinaInc());
          } else {
            inc.piscina.push(yield* piscinaInc());
            inc.thread.push(yield* threadInc());
          }
        }
        yield* until(
          Promise.all(Array.from({ length: 2 * CONCURRENCY }, () => piscinaPeer.call(-1))),
        );
        for (let i = 0; i < 2 * CONCURRENCY; i++) yield* thread.run("spin", 1);
        const perCpuRound = Math.max(50, Math.floor(CPU_N / 5));
        for (let r = 0; r < 5; r++) {
          cpu.thread.push(yield* boughThroughput(thread, "spin", perCpuRound, () => 1));
          cpu.piscina.push(yield* until(peerThroughput(piscinaPeer.call, perCpuRound, () => -1)));
        }
      } finally {
        yield* until(piscinaPeer.close());
      }
      return {
        floor: summary(samples.floor),
        thread: summary(samples.thread),
        remote: summary(samples.remote),
        incOpsPerSec: { thread: median(inc.thread), piscina: median(inc.piscina) },
        cpuOpsPerSec: { thread: harmonicMean(cpu.thread), piscina: harmonicMean(cpu.piscina) },
      };
    });
  } finally {
    yield* until(floorPeer.close());
  }
}

// ---- cold start ---------------------------------------------------------------------------

interface Cold {
  wall: number;
  cpu: number;
}

/**
 * Cold start of every pool, measured alike in a plain-node child process
 * (bench/fixtures/pool-cold-start.mjs): the built package (dist/, built here
 * when missing or older than src/), a built `.js` worker for each peer, from
 * before the pool is created to the first result; no teardown. Each
 * round runs the peers in a rotated order, 200 ms apart (teardowns settle).
 */
function coldStarts(): Record<string, Cold[]> {
  const root = new URL("../", import.meta.url).pathname;
  const marker = join(root, "dist/pool/worker.js");
  const stale =
    !existsSync(marker) ||
    execFileSync("find", [join(root, "src"), "-name", "*.ts", "-newer", marker], {
      encoding: "utf8",
    }).trim() !== "" ||
    statSync(marker).mtimeMs < statSync(join(root, "tsup.config.ts")).mtimeMs;
  if (stale) execFileSync("npx", ["tsup", "--silent"], { cwd: root, stdio: "inherit" });
  const out = execFileSync(process.execPath, [join(root, "bench/fixtures/pool-cold-start.mjs")], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, POOL_COLD_ROUNDS: String(COLD_ROUNDS) },
  });
  return JSON.parse(out.trim().split("\n").pop() as string);
}

const cold = coldStarts();
const coldMedian = (name: string) => ({
  wall: median(cold[name].map((c) => c.wall)),
  cpu: median(cold[name].map((c) => c.cpu)),
});
const coldBare = coldMedian("bare");
const coldRows = Object.keys(cold).map((name) => {
  const m = coldMedian(name);
  return [
    name === "bare" ? "two bare Workers (floor)" : name,
    m.wall.toFixed(1),
    m.cpu.toFixed(1),
    `${(m.wall / coldBare.wall).toFixed(2)}× / ${(m.cpu / coldBare.cpu).toFixed(2)}×`,
  ];
});
const coldThread = coldMedian("bough thread");
const coldGoal = {
  wall: coldThread.wall / coldBare.wall,
  cpu: coldThread.cpu / coldBare.cpu,
};
console.log(table(["pool", "wall ms", "CPU ms", "vs bare (wall / CPU)"], coldRows));

const dir = mkdtempSync(join(tmpdir(), "bough-bench-pool-"));
const zero = { medianUs: 0, p99Us: 0 };
let interleaved = {
  floor: zero,
  thread: zero,
  remote: zero,
  incOpsPerSec: { thread: 0, piscina: 0 },
  cpuOpsPerSec: { thread: 0, piscina: 0 },
};
const rows: Row[] = [];
try {
  const options = { minWorkers: WORKERS, maxWorkers: WORKERS, timeout: 30_000 };
  const boughRows = await run(function* () {
    interleaved = yield* interleavedRoundTrips(
      10,
      Math.max(100, Math.floor(LAT_N / 3)),
      join(dir, "interleaved.sock"),
    );
    const out: Row[] = [];
    out.push(
      yield* measureBoughPool("bough thread", () =>
        usePool<Bench>({ worker: boughWorker, transport: "thread", ...options }),
      ),
    );
    out.push(
      yield* measureBoughPool("bough process", () =>
        usePool<Bench>({ worker: boughWorker, transport: "process", ...options }),
      ),
    );
    const server = yield* useWorkerServer({
      listen: { path: join(dir, "pool.sock") },
      worker: boughWorker,
    });
    out.push(
      yield* measureBoughPool("bough remote (unix socket)", () =>
        usePool<Bench>({ connect: server.address, ...options }),
      ),
    );
    return out;
  });
  for (const peer of peers) rows.push(await measurePeer(peer));
  rows.unshift(...boughRows);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const byName = (name: string) => rows.find((r) => r.name === name)!;
const floor = byName("bare Worker (floor)");
const piscina = byName("piscina");
const thread = byName("bough thread");
const remote = byName("bough remote (unix socket)");
const goals = {
  sequentialVsBare: interleaved.thread.medianUs / interleaved.floor.medianUs,
  sequentialVsBareSeparateRuns: thread.latMedianUs / floor.latMedianUs,
  remoteVsThreadSeparateRuns: remote.latMedianUs / thread.latMedianUs,
  incThroughputVsPiscina: interleaved.incOpsPerSec.thread / interleaved.incOpsPerSec.piscina,
  incThroughputVsPiscinaSeparateRuns: thread.incOpsPerSec / piscina.incOpsPerSec,
  remoteVsThreadLatency: interleaved.remote.medianUs / interleaved.thread.medianUs,
};

const fmt = (n: number | undefined, digits = 0) => (n === undefined ? "—" : n.toFixed(digits));
const markdown = [
  `${WORKERS} workers each. Sequential round trip: ${LAT_N} calls of \`x => x + 1\`, one in flight. Throughput: ${CONCURRENCY} concurrent callers, ${INC_N} × \`x => x + 1\` (median of 2) and ${CPU_N} × 1 ms CPU task. Checkout: \`checkout()\` + one call + release.`,
  "",
  table(
    [
      "pool",
      "round trip median µs",
      "p99 µs",
      "x+1 ops/s",
      "1 ms task ops/s",
      "checkout+call+release median µs",
      "p99 µs",
    ],
    rows.map((r) => [
      r.name,
      fmt(r.latMedianUs, 1),
      fmt(r.latP99Us, 1),
      fmt(r.incOpsPerSec),
      fmt(r.cpuOpsPerSec),
      fmt(r.checkoutMedianUs, 1),
      fmt(r.checkoutP99Us, 1),
    ]),
  ),
  "",
  `1 ms CPU task in alternating rounds (the same moment for both): bough thread ${interleaved.cpuOpsPerSec.thread.toFixed(0)} ops/s, piscina ${interleaved.cpuOpsPerSec.piscina.toFixed(0)} ops/s (${(interleaved.cpuOpsPerSec.thread / interleaved.cpuOpsPerSec.piscina).toFixed(2)}×). The table's CPU column comes from separate runs and moves with the load of other processes on this shared 2-core machine.`,
  "",
  "Goals:",
  "",
  table(
    ["goal", "target", "measured", "met"],
    [
      [
        "sequential round trip, bough thread / bare Worker (interleaved rounds)",
        "≤ 1.3×",
        `${goals.sequentialVsBare.toFixed(2)}× (${interleaved.thread.medianUs.toFixed(1)} vs ${interleaved.floor.medianUs.toFixed(1)} µs; ${goals.sequentialVsBareSeparateRuns.toFixed(2)}× from the table's separate runs)`,
        goals.sequentialVsBare <= 1.3 ? "yes" : "no",
      ],
      [
        "x+1 throughput, bough thread / piscina (interleaved rounds)",
        "≥ 1×",
        `${goals.incThroughputVsPiscina.toFixed(2)}× (${interleaved.incOpsPerSec.thread.toFixed(0)} vs ${interleaved.incOpsPerSec.piscina.toFixed(0)} ops/s, medians of 6 rounds; ${goals.incThroughputVsPiscinaSeparateRuns.toFixed(2)}× from the table's separate runs)`,
        goals.incThroughputVsPiscina >= 1 ? "yes" : "no",
      ],
      [
        "round trip, bough remote / bough thread (interleaved rounds)",
        "≤ 2×",
        `${goals.remoteVsThreadLatency.toFixed(2)}× (${interleaved.remote.medianUs.toFixed(1)} vs ${interleaved.thread.medianUs.toFixed(1)} µs; ${goals.remoteVsThreadSeparateRuns.toFixed(2)}× from the table's separate runs)`,
        goals.remoteVsThreadLatency <= 2 ? "yes" : "no",
      ],
    ],
  ),
  "",
  "Notes: the table above runs bough from its TypeScript sources, so its workers register tsx before loading; the cold start below runs the built package. The bare-Worker floor pipelines messages in the throughput rows (no pool bookkeeping at all).",
  "",
  `## Cold start: new pool (2 workers) to the first result, median of ${COLD_ROUNDS} rounds (peers in rotated order)`,
  "",
  "Every peer alike, in one plain-node process (`bench/fixtures/pool-cold-start.mjs`): the built package, a built `.js` worker each (bough's imports `bough/pool/worker`), timed from before the pool is created to the first result; teardown is not timed. CPU is the whole process's (the starting worker threads included), which load from other processes disturbs less than wall time.",
  "",
  table(["pool", "wall ms", "CPU ms", "vs two bare Workers (wall / CPU)"], coldRows),
  "",
  `Goal: bough thread with the built package and a \`.js\` worker ≤ 1.2× two bare Workers: ${coldGoal.wall.toFixed(2)}× wall, ${coldGoal.cpu.toFixed(2)}× CPU — ${coldGoal.wall <= 1.2 && coldGoal.cpu <= 1.2 ? "met" : "not met"}.`,
  "",
  'A worker file that imports `bough/pool` instead of `bough/pool/worker` also loads effection and the pool\'s client side (the row "worker imports bough/pool"). A `.ts` worker is started through tsx, which the thread registers and which compiles the file (the ".ts worker" row): compile workers ahead of time (`tsc`/`tsup` to `.js`) to avoid it.',
].join("\n");

writeResults("pool", { rows, interleaved, goals, cold, coldGoal }, markdown);
