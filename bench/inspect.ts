/**
 * bench inspect: what the live inspector costs, measured on a loaded, shared machine.
 *
 * 1. Unwatched (issue 20: "within 5% with the inspector mounted and no client"):
 *    bench/core.ts's bough rows — a selector's items that return at once,
 *    suspend once on a resolved promise, or sleep 1 ms, and the tree of 11,111
 *    tasks (build, then halt) — each run in a fresh scope, bare or with
 *    `useInspector({ listen })` mounted in that scope (status server listening,
 *    stdout/stderr captured, counter sampler running) and no client. The two
 *    variants are interleaved round by round (ABBA), so that load that comes and
 *    goes weighs on both; each row reports CPU time (`process.cpuUsage`, user +
 *    system) and wall time, the medians, and the median of the per-round
 *    mounted/bare CPU ratios. A sample of items repeats the run until it lasts
 *    about 100 ms of CPU (INSPECT_SAMPLE_MS); many short rounds, because on
 *    this machine one sample's CPU time moves by ±30% with the neighbours' load.
 * 2. Watched: 10,000 tree changes per second (5,000 nodes a second open and
 *    close, each living 20 ms so that every change crosses a 16 ms frame and is
 *    sent), in 1 s windows that alternate between no client and one SSE client
 *    (`curl -N` in its own process, so that its CPU is not counted): CPU ms per
 *    wall second of this process in each.
 *
 *   npm run bench -- inspect
 *   INSPECT_SIZES=1000,100000 INSPECT_ROUNDS=9 npm run bench -- inspect   (core's own sizes; slow here)
 */
import { spawn as spawnProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createScope, type Operation, type Scope, scoped, sleep, suspend, until } from "effection";
import { closeLabel, delay, type LabelNode, label, openLabel, useSelector } from "../src/index.js";
import { useInspector } from "../src/inspect/index.js";
import { loadAverage, median, table, writeResults } from "./report.js";

const ROUNDS = Number(process.env.INSPECT_ROUNDS ?? 41);
/** core.ts runs 1,000 and 100,000; 100,000 suspending items cost ~5 s a sample here. */
const SIZES = (process.env.INSPECT_SIZES ?? "1000,20000").split(",").map(Number);
const WINDOWS = Number(process.env.INSPECT_WINDOWS ?? 6);
const SAMPLE_MS = Number(process.env.INSPECT_SAMPLE_MS ?? 100);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

type Variant = "bare" | "mounted";
interface Sample {
  wall: number;
  cpu: number;
}
const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;

// ---- the scope a sample runs in: bare, or with the inspector mounted ------------------------

interface Stage {
  scope: Scope;
  close(): Promise<void>;
}

/** A fresh scope, with the inspector mounted in it (status server listening) or not. */
async function stage(variant: Variant): Promise<Stage> {
  const [scope, destroy] = createScope();
  if (variant === "mounted") {
    let ready!: () => void;
    const mounted = new Promise<void>((resolve) => (ready = resolve));
    scope.run(function* () {
      yield* useInspector({ listen: { port: 0 } });
      ready();
      yield* suspend();
    });
    await mounted;
  }
  return { scope, close: destroy };
}

// ---- part 1: core.ts's bough rows -------------------------------------------------------------

type Kind = "now" | "promise" | "timer";
const KINDS: { kind: Kind; label: string }[] = [
  { kind: "now", label: "returns at once" },
  { kind: "promise", label: "suspends once on a resolved promise" },
  { kind: "timer", label: "sleeps 1 ms on a timer" },
];
function* opNow(i: number): Operation<number> {
  return i;
}
function* opPromise(i: number): Operation<number> {
  yield* until(Promise.resolve());
  return i;
}
function* opDelay(i: number): Operation<number> {
  yield* delay(1);
  return i;
}
const OPS: Record<Kind, (i: number) => Operation<number>> = {
  now: opNow,
  promise: opPromise,
  timer: opDelay,
};

function boughItems(kind: Kind, n: number): () => Operation<void> {
  const make = OPS[kind];
  return () =>
    scoped(function* () {
      const selector = yield* useSelector<number, number>();
      for (let i = 0; i < n; i++) selector.add(i, make(i));
      let seen = 0;
      while (seen < n) seen += (yield* selector.select()).length;
    });
}

/** One timed sample of `reps` runs of `work` in a fresh scope of the given variant (µs per item). */
async function itemSample(variant: Variant, work: () => Operation<void>, n: number, reps: number) {
  const { scope, close } = await stage(variant);
  try {
    gc();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let k = 0; k < reps; k++) await scope.run(work);
    const wall = performance.now() - t0;
    const cpu = cpuMs(process.cpuUsage(c0));
    return { wall: (wall * 1000) / (n * reps), cpu: (cpu * 1000) / (n * reps) };
  } finally {
    await close();
  }
}

/** Runs per sample so that a sample lasts about SAMPLE_MS of CPU: short samples are all noise here. */
async function calibrate(work: () => Operation<void>): Promise<number> {
  const { scope, close } = await stage("bare");
  try {
    await scope.run(work);
    const c0 = process.cpuUsage();
    await scope.run(work);
    const once = Math.max(0.05, cpuMs(process.cpuUsage(c0)));
    return Math.max(1, Math.min(1000, Math.ceil(SAMPLE_MS / once)));
  } finally {
    await close();
  }
}

const FANOUT = 10;
const DEPTH = 4;
const TREE = 11_111;
function* treeNode(depth: number, started: { n: number }): Operation<void> {
  started.n++;
  if (depth < DEPTH) {
    const selector = yield* useSelector<void, number>();
    for (let i = 0; i < FANOUT; i++) selector.add(i, treeNode(depth + 1, started));
  }
  yield* suspend();
}

/** The tree of 11,111 tasks: build, then halt (ms). */
async function treeSample(variant: Variant): Promise<{ build: Sample; halt: Sample }> {
  const { scope, close } = await stage(variant);
  try {
    gc();
    const started = { n: 0 };
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const task = scope.run(() => treeNode(0, started));
    while (started.n < TREE) await new Promise((r) => setImmediate(r));
    const t1 = performance.now();
    const c1 = process.cpuUsage();
    await task.halt();
    const t2 = performance.now();
    const c2 = process.cpuUsage();
    return {
      build: { wall: t1 - t0, cpu: cpuMs(c1) - cpuMs(c0) },
      halt: { wall: t2 - t1, cpu: cpuMs(c2) - cpuMs(c1) },
    };
  } finally {
    await close();
  }
}

interface Row {
  row: string;
  unit: string;
  bare: { wall: number; cpu: number };
  mounted: { wall: number; cpu: number };
  /** Median over rounds of mounted CPU / bare CPU of the same round. */
  pairedCpuRatio: number;
  /** The 25th and 75th percentiles of those ratios: the noise. */
  pairedCpuQuartiles: [number, number];
  rounds: number;
}

/** Runs `sample` for both variants, ABBA-interleaved, ROUNDS times each (after one warm-up each). */
async function interleaved(
  row: string,
  unit: string,
  sample: (variant: Variant) => Promise<Sample>,
): Promise<Row> {
  await sample("bare");
  await sample("mounted");
  const got: Record<Variant, Sample[]> = { bare: [], mounted: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order: Variant[] = round % 2 === 0 ? ["bare", "mounted"] : ["mounted", "bare"];
    for (const variant of order) got[variant].push(await sample(variant));
  }
  const pick = (v: Variant) => ({
    wall: median(got[v].map((s) => s.wall)),
    cpu: median(got[v].map((s) => s.cpu)),
  });
  const result: Row = {
    row,
    unit,
    bare: pick("bare"),
    mounted: pick("mounted"),
    pairedCpuRatio: median(got.bare.map((b, i) => got.mounted[i].cpu / b.cpu)),
    pairedCpuQuartiles: quartiles(got.bare.map((b, i) => got.mounted[i].cpu / b.cpu)),
    rounds: ROUNDS,
  };
  console.log(
    `${row.padEnd(48)} bare cpu ${result.bare.cpu.toFixed(3)} mounted cpu ${result.mounted.cpu.toFixed(3)} ${unit} (paired ${pct(result.pairedCpuRatio)})`,
  );
  return result;
}

/** The 25th and 75th percentiles (nearest rank). */
function quartiles(values: number[]): [number, number] {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return [at(0.25), at(0.75)];
}

const pct = (ratio: number) => `${ratio >= 1 ? "+" : ""}${((ratio - 1) * 100).toFixed(1)}%`;

// ---- part 2: 10,000 changes a second, with and without one watcher ---------------------------

const PER_TICK = 50; // nodes opened (and, two ticks later, closed) every 10 ms: 10,000 changes/s
const TICK_MS = 10;

/** A watcher in its own process: `curl -N` on the SSE endpoint, its output to a file. */
async function watcher(url: string, dir: string, n: number) {
  const file = join(dir, `watch-${n}.txt`);
  const fd = openSync(file, "w");
  const curl = spawnProcess("curl", ["-sN", url], { stdio: ["ignore", fd, "ignore"] });
  closeSync(fd);
  // connected once the snapshot event arrived
  while (statSync(file).size === 0) await new Promise((r) => setTimeout(r, 5));
  return {
    async close(): Promise<number> {
      const exited = new Promise((r) => curl.once("exit", r));
      curl.kill();
      await exited;
      return statSync(file).size;
    },
  };
}

interface Window {
  watched: boolean;
  cpuMsPerS: number;
  changesPerS: number;
  bytes: number;
}

async function churn(): Promise<Window[]> {
  const dir = mkdtempSync(join(tmpdir(), "bough-bench-inspect-"));
  const windows: Window[] = [];
  const [scope, destroy] = createScope();
  let url = "";
  let ready!: () => void;
  const mounted = new Promise<void>((resolve) => (ready = resolve));
  let changes = 0;
  scope.run(function* () {
    const inspector = yield* useInspector({ listen: { port: 0 } });
    url = `${inspector.url}/events`;
    const root = yield* label("churn");
    ready();
    // 50 nodes open every tick and close two ticks (20 ms) later; late ticks catch up
    const open: LabelNode[][] = [];
    const t0 = performance.now();
    let tick = 0;
    for (;;) {
      const due = Math.floor((performance.now() - t0) / TICK_MS);
      for (; tick <= due; tick++) {
        const batch: LabelNode[] = [];
        for (let i = 0; i < PER_TICK; i++) {
          batch.push(openLabel(root, `job ${tick}.${i}`, { kind: "job" }));
        }
        open.push(batch);
        if (open.length > 2) for (const node of open.shift() as LabelNode[]) closeLabel(node);
        changes += PER_TICK * (open.length > 2 ? 1 : 2);
      }
      yield* sleep(t0 + tick * TICK_MS - performance.now());
    }
  });
  await mounted;
  const measure = async (watched: boolean, n: number): Promise<Window> => {
    const client = watched ? await watcher(url, dir, n) : undefined;
    await new Promise((r) => setTimeout(r, 200)); // settle: the snapshot is sent
    const c0 = process.cpuUsage();
    const changes0 = changes;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuMs(process.cpuUsage(c0));
    const window = {
      watched,
      cpuMsPerS: cpu / wall,
      changesPerS: (changes - changes0) / wall,
      bytes: 0,
    };
    if (client) window.bytes = await client.close();
    return window;
  };
  try {
    await measure(false, -1); // warm-up
    for (let w = 0; w < WINDOWS; w++) {
      const order = w % 2 === 0 ? [false, true] : [true, false];
      for (const watched of order) {
        const window = await measure(watched, w);
        windows.push(window);
        console.log(
          `${watched ? "one watcher" : "no watcher "} cpu ${window.cpuMsPerS.toFixed(0)} ms/s, ${window.changesPerS.toFixed(0)} changes/s, ${window.bytes} bytes`,
        );
      }
    }
  } finally {
    await destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  return windows;
}

// ---- run --------------------------------------------------------------------------------------

const loadBefore = loadAverage();
// Warm every path up in both variants first: the first row measured must not pay for the JIT
for (const { kind } of KINDS) {
  for (const variant of ["bare", "mounted"] as const) {
    await itemSample(variant, boughItems(kind, 1_000), 1_000, 20);
  }
}
const rows: Row[] = [];
for (const { kind, label: name } of KINDS) {
  for (const n of SIZES) {
    const reps = await calibrate(boughItems(kind, n));
    rows.push(
      await interleaved(`${name}, N = ${n.toLocaleString("en")}`, "µs/item", (v) =>
        itemSample(v, boughItems(kind, n), n, reps),
      ),
    );
  }
}
const trees: Record<Variant, { build: Sample; halt: Sample }[]> = { bare: [], mounted: [] };
const treeOnce = async (v: Variant) => {
  const s = await treeSample(v);
  trees[v].push(s);
  return s;
};
// one run feeds both rows: build, then halt of the same tree
const treeRow = await interleaved(`tree of ${TREE.toLocaleString("en")}: build`, "ms", async (v) =>
  treeOnce(v).then((s) => s.build),
);
rows.push(treeRow);
for (const v of ["bare", "mounted"] as const) trees[v].shift(); // the warm-ups
const haltRow: Row = {
  row: `tree of ${TREE.toLocaleString("en")}: halt`,
  unit: "ms",
  bare: {
    wall: median(trees.bare.map((s) => s.halt.wall)),
    cpu: median(trees.bare.map((s) => s.halt.cpu)),
  },
  mounted: {
    wall: median(trees.mounted.map((s) => s.halt.wall)),
    cpu: median(trees.mounted.map((s) => s.halt.cpu)),
  },
  pairedCpuRatio: median(trees.bare.map((b, i) => trees.mounted[i].halt.cpu / b.halt.cpu)),
  pairedCpuQuartiles: quartiles(trees.bare.map((b, i) => trees.mounted[i].halt.cpu / b.halt.cpu)),
  rounds: ROUNDS,
};
rows.push(haltRow);
const loadMiddle = loadAverage();
const windows = await churn();
const loadAfter = loadAverage();

const of = (watched: boolean) => windows.filter((w) => w.watched === watched);
const idle = of(false);
const watched = of(true);
const churnSummary = {
  unwatched: {
    cpuMsPerS: median(idle.map((w) => w.cpuMsPerS)),
    changesPerS: median(idle.map((w) => w.changesPerS)),
  },
  watched: {
    cpuMsPerS: median(watched.map((w) => w.cpuMsPerS)),
    changesPerS: median(watched.map((w) => w.changesPerS)),
    bytesPerS: median(watched.map((w) => w.bytes / 1.2)),
  },
};
const overheadMs = churnSummary.watched.cpuMsPerS - churnSummary.unwatched.cpuMsPerS;
const worstPaired = Math.max(...rows.map((r) => r.pairedCpuRatio));
const within = rows.filter((r) => r.pairedCpuRatio <= 1.05).length;
/** Rows whose middle half of paired ratios lies on both sides of zero: no difference the noise can show. */
const straddling = rows.filter((r) => r.pairedCpuQuartiles[0] <= 1 && r.pairedCpuQuartiles[1] >= 1);
/** All rows together: the geometric mean of the paired ratios, where the rows' noise partly cancels. */
const overall = Math.exp(
  rows.reduce((sum, r) => sum + Math.log(r.pairedCpuRatio), 0) / rows.length,
);
const noiseNote = `On ${straddling.length} of ${rows.length} rows the middle half of the paired ratios spans zero (mounted both cheaper and dearer than bare): the spread is the machine's noise, which is wider than 5% here; run it on a quiet machine to resolve a few percent.`;

const f = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
writeResults(
  "inspect",
  {
    loadAverage: { before: loadBefore, middle: loadMiddle, after: loadAfter },
    rounds: ROUNDS,
    sizes: SIZES,
    unwatched: rows,
    unwatchedOverallPairedCpuRatio: overall,
    churn: { windows, ...churnSummary, overheadCpuMsPerS: overheadMs },
  },
  `
Load average (1/5/15 min): ${loadBefore.join(" / ")} at the start, ${loadMiddle.join(" / ")} after part 1, ${loadAfter.join(" / ")} at the end, on 2 cores shared with other work. Read the CPU columns and the paired ratios; wall times move with the load.

## 1. Inspector mounted, no client, against bare (bench/core.ts's bough rows)

Each sample runs in a fresh scope: bare, or with \`useInspector({ listen: { port: 0 } })\` mounted in it (status server listening, stdout/stderr captured, counter sampler running) and nobody connected. Bare and mounted alternate round by round (ABBA), ${ROUNDS} rounds after a warm-up each; a sample of items repeats the run to last about ${SAMPLE_MS} ms of CPU (a few-ms sample is all noise here). CPU is this process's user + system time (GC threads included). "paired" is the median over rounds of mounted CPU / bare CPU of the same round: the figure least moved by load that comes and goes. Sizes ${SIZES.map((n) => n.toLocaleString("en")).join(" and ")} (core.ts also runs 100,000: \`INSPECT_SIZES=1000,100000\`).

${table(
  [
    "row",
    "unit",
    "bare wall / CPU",
    "mounted wall / CPU",
    "CPU, medians",
    "CPU, paired",
    "paired, 25th–75th pct",
  ],
  rows.map((r) => [
    r.row,
    r.unit,
    `${f(r.bare.wall)} / ${f(r.bare.cpu)}`,
    `${f(r.mounted.wall)} / ${f(r.mounted.cpu)}`,
    pct(r.mounted.cpu / r.bare.cpu),
    pct(r.pairedCpuRatio),
    `${pct(r.pairedCpuQuartiles[0])} … ${pct(r.pairedCpuQuartiles[1])}`,
  ]),
)}

Goal "within 5%": ${within} of ${rows.length} rows within +5% (paired CPU); the worst is ${pct(worstPaired)}; all rows together (geometric mean of the paired ratios) ${pct(overall)}. ${noiseNote}

## 2. 10,000 tree changes per second, without and with one SSE watcher

5,000 nodes a second open and close (${PER_TICK} every ${TICK_MS} ms, each living 20 ms, so every change crosses a 16 ms frame and is sent; \`openLabel\`/\`closeLabel\` under one labelled task, the nodes selector items and pool calls make). ${WINDOWS} windows of 1 s each way, alternating; the watcher is \`curl -N\` in its own process, so its CPU is not counted here.

${table(
  ["", "CPU ms per second (median)", "changes/s achieved", "SSE bytes/s"],
  [
    [
      "inspector mounted, no watcher",
      churnSummary.unwatched.cpuMsPerS.toFixed(0),
      churnSummary.unwatched.changesPerS.toFixed(0),
      "0",
    ],
    [
      "one SSE watcher",
      churnSummary.watched.cpuMsPerS.toFixed(0),
      churnSummary.watched.changesPerS.toFixed(0),
      churnSummary.watched.bytesPerS.toFixed(0),
    ],
  ],
)}

Overhead of one watcher at 10,000 changes/s: ${overheadMs.toFixed(0)} ms of CPU per second (${pct(churnSummary.watched.cpuMsPerS / churnSummary.unwatched.cpuMsPerS)} of this process's CPU), that is ${((overheadMs * 1000) / 10_000).toFixed(1)} µs per change. Windows:

${table(
  ["window", "watched", "CPU ms/s", "changes/s", "bytes"],
  windows.map((w, i) => [
    i + 1,
    w.watched ? "yes" : "no",
    w.cpuMsPerS.toFixed(0),
    w.changesPerS.toFixed(0),
    w.bytes,
  ]),
)}

(SSE bytes/s counts the whole connection: the snapshot, 200 ms of settling and the 1 s window.)
`,
);
process.exit(0);
