/**
 * bench core: what one unit of concurrent work costs, like with like, in one run.
 *
 * For N = 1,000 and 100,000 items of three kinds — an item that returns at once,
 * one that suspends once on a resolved promise, one that sleeps 1 ms on a timer —
 * each runtime starts N items and collects all their results:
 *
 * - bough: `useSelector()`, `add()` each item, `select()` until all are back (an
 *   item waits on its promise with bough's `awaitPromise` and sleeps with bough's
 *   `delay`, on the clock in context); the promise row also runs bough's selector
 *   with effection's `until()`; at N > 2,048 the promise and timer rows also run
 *   bough's loop in slices, `yieldToEventLoop()` after every 2,048 adds, as
 *   Effect's fiber yields to the event loop after 2,048 operations (its
 *   `MaxOpsBeforeYield`) and so runs its fork loop in slices by itself;
 * - Effect 4: `Effect.forkChild` of the same kind of effect, then `Fiber.join`
 *   each; at N > 2,048 the promise and timer rows also run it with
 *   `MaxOpsBeforeYield` at `Number.MAX_SAFE_INTEGER`, so that its loop never
 *   yields, as bough's plain loop of adds;
 * - raw effection: `spawn` of the same operation, then join each task;
 * - plain JS: a Promise / an async function / a `setTimeout` per item, collected
 *   in completion order.
 *
 * Then a tree of 11,111 tasks (10 × 10 × 10 × 10), each waiting forever: time to
 * build it, then (after a full collection, not timed: see `settle`) to halt it. Every row reports wall time and CPU time
 * (`process.cpuUsage`, user + system of the whole process, GC threads included),
 * the median of ROUNDS rounds, peers interleaved round by round.
 *
 *   npm run bench -- core
 *   CORE_ONLY=bough CORE_KINDS=promise CORE_SIZES=100000 node --cpu-prof --import tsx bench/core.ts
 *     (bough's rows only, for --cpu-prof or callgrind; a partial run writes no results)
 */
import { Duration, Effect, Fiber, Scheduler } from "effect";
import { type Operation, run, scoped, sleep, spawn, suspend, until } from "effection";
import { awaitPromise, delay, useSelector, yieldToEventLoop } from "../src/index.js";
import { loadAverage, median, table, writeResults } from "./report.js";

const ROUNDS = Number(process.env.CORE_ROUNDS ?? 5);
/** raw effection costs ~100–200 µs per item at 100,000: one round there keeps the run bounded. */
const EFFECTION_BIG_ROUNDS = Number(process.env.CORE_EFFECTION_BIG_ROUNDS ?? 1);
const SIZES = (process.env.CORE_SIZES ?? "1000,100000").split(",").map(Number);
/** e.g. "bough" or "bough,effect": those peers' rows only */
const ONLY = process.env.CORE_ONLY?.split(",");
const ONLY_KINDS = process.env.CORE_KINDS?.split(","); // e.g. "promise,timer,tree"
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

type Kind = "now" | "promise" | "timer";
const KINDS: { kind: Kind; label: string }[] = [
  { kind: "now", label: "returns at once" },
  { kind: "promise", label: "suspends once on a resolved promise" },
  { kind: "timer", label: "sleeps 1 ms on a timer" },
];

interface Sample {
  wall: number;
  cpu: number;
}

/** Times `fn` (wall and CPU ms). */
async function timed(fn: () => Promise<void>): Promise<Sample> {
  gc();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

// ---- the three kinds of item, in each runtime ------------------------------------------------

function* opNow(i: number): Operation<number> {
  return i;
}
function* opPromise(i: number): Operation<number> {
  yield* until(Promise.resolve());
  return i;
}
function* opTimer(i: number): Operation<number> {
  yield* sleep(1);
  return i;
}
const OPS: Record<Kind, (i: number) => Operation<number>> = {
  now: opNow,
  promise: opPromise,
  timer: opTimer,
};
/** bough sleeps on its own clock (`delay`), as Effect on its own (`Effect.sleep`). */
function* opDelay(i: number): Operation<number> {
  yield* delay(1);
  return i;
}
/** bough waits on a promise with `awaitPromise`, as Effect with its own `Effect.promise`. */
function* opAwait(i: number): Operation<number> {
  yield* awaitPromise(Promise.resolve());
  return i;
}
const BOUGH_OPS: Record<Kind, (i: number) => Operation<number>> = {
  ...OPS,
  promise: opAwait,
  timer: opDelay,
};

const oneMs = Duration.millis(1);
const resolved = () => Promise.resolve();
const EFFECTS: Record<Kind, (i: number) => Effect.Effect<number>> = {
  now: (i) => Effect.succeed(i),
  promise: (i) => Effect.as(Effect.promise(resolved), i),
  timer: (i) => Effect.as(Effect.sleep(oneMs), i),
};

function boughItems(kind: Kind, n: number): Promise<void> {
  return selectorItems(BOUGH_OPS[kind], n);
}

/**
 * Effect's fiber yields to the event loop (`setImmediate`) once it has run
 * 2,048 operations (`Scheduler.MaxOpsBeforeYield`), so its loop of forks runs
 * in slices and the items of one slice settle before the next starts. bough's
 * `add()` is a plain call: a loop of them runs to its end first, and all N
 * items wait at once. This runner yields as Effect's fiber does.
 */
const SLICE = 2048;
const SLICE_TEXT = SLICE.toLocaleString("en");

function boughSlicedItems(kind: Kind, n: number): Promise<void> {
  return selectorItems(BOUGH_OPS[kind], n, SLICE);
}

/** bough's selector running effection's own operations (`until`, `sleep`): the cost of not using bough's. */
function boughEffectionOpsItems(kind: Kind, n: number): Promise<void> {
  return selectorItems(OPS[kind], n);
}

function selectorItems(
  make: (i: number) => Operation<number>,
  n: number,
  slice = Number.POSITIVE_INFINITY,
): Promise<void> {
  return run(function* () {
    yield* scoped(function* () {
      const selector = yield* useSelector<number, number>();
      for (let i = 0; i < n; i++) {
        selector.add(i, make(i));
        if ((i + 1) % slice === 0) yield* yieldToEventLoop();
      }
      let seen = 0;
      while (seen < n) seen += (yield* selector.select()).length;
    });
  });
}

function effectItems(kind: Kind, n: number, oneLoop = false): Promise<void> {
  const make = EFFECTS[kind];
  const program = Effect.gen(function* () {
    const fibers = [];
    for (let i = 0; i < n; i++) fibers.push(yield* Effect.forkChild(make(i)));
    let sum = 0;
    for (const fiber of fibers) sum += yield* Fiber.join(fiber);
    if (sum < 0) throw new Error("unreachable");
  });
  return Effect.runPromise(
    oneLoop
      ? Effect.provideService(program, Scheduler.MaxOpsBeforeYield, Number.MAX_SAFE_INTEGER)
      : program,
  );
}

/** Effect's fork loop without its yields: every fiber waits at once, as bough's one loop of adds. */
function effectOneLoopItems(kind: Kind, n: number): Promise<void> {
  return effectItems(kind, n, true);
}

function effectionItems(kind: Kind, n: number): Promise<void> {
  const make = OPS[kind];
  return run(function* () {
    const tasks = [];
    for (let i = 0; i < n; i++) tasks.push(yield* spawn(() => make(i)));
    let sum = 0;
    for (const task of tasks) sum += yield* task;
    if (sum < 0) throw new Error("unreachable");
  });
}

const PLAIN: Record<Kind, (i: number) => Promise<number>> = {
  now: (i) => Promise.resolve(i),
  promise: async (i) => {
    await Promise.resolve();
    return i;
  },
  timer: (i) => new Promise((resolve) => setTimeout(resolve, 1, i)),
};

/** Plain JS: start N, collect in completion order (the selector loop without a runtime). */
async function plainItems(kind: Kind, n: number): Promise<void> {
  const make = PLAIN[kind];
  const done: number[] = [];
  let wake: (() => void) | undefined;
  const push = (v: number) => {
    done.push(v);
    if (wake) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  for (let i = 0; i < n; i++) make(i).then(push);
  let seen = 0;
  while (seen < n) {
    if (done.length === 0) await new Promise<void>((r) => (wake = r));
    seen += done.splice(0).length;
  }
}

const PLAIN_LABEL: Record<Kind, string> = {
  now: "Promise.resolve",
  promise: "async fn",
  timer: "setTimeout",
};

type Runner = (kind: Kind, n: number) => Promise<void>;
interface Peer {
  key: string;
  label: string;
  run: Runner;
  /** Only these kinds of item (default: all). */
  kinds?: Kind[];
  /** Only above this N (default: every N). */
  above?: number;
}
const ALL_PEERS: Peer[] = [
  { key: "bough", label: "bough", run: boughItems },
  {
    key: "boughUntil",
    label: "bough + until()",
    run: boughEffectionOpsItems,
    kinds: ["promise"],
  },
  {
    key: "boughSliced",
    label: `bough, yields every ${SLICE_TEXT}`,
    run: boughSlicedItems,
    kinds: ["promise", "timer"],
    above: SLICE,
  },
  { key: "effect", label: "Effect 4", run: effectItems },
  {
    key: "effectOneLoop",
    label: "Effect 4, never yields",
    run: effectOneLoopItems,
    kinds: ["promise", "timer"],
    above: SLICE,
  },
  { key: "effection", label: "effection spawn+join", run: effectionItems },
  { key: "plain", label: "plain JS", run: plainItems },
];
const PEERS = ALL_PEERS.filter((p) => !ONLY || ONLY.includes(p.key));

interface Cell {
  /** µs per item, median. */
  wallUs: number;
  cpuUs: number;
  rounds: number;
}

async function itemRow(kind: Kind, n: number): Promise<Record<string, Cell>> {
  const samples: Record<string, Sample[]> = {};
  const roundsOf = (key: string) =>
    key === "effection" && n >= 10_000 ? Math.min(EFFECTION_BIG_ROUNDS, ROUNDS) : ROUNDS;
  const peers = PEERS.filter(
    (p) => (!p.kinds || p.kinds.includes(kind)) && (p.above === undefined || n > p.above),
  );
  for (const peer of peers) {
    samples[peer.key] = [];
    if (roundsOf(peer.key) > 1 || n < 10_000) await peer.run(kind, n); // warm-up
  }
  // Small N: repeat the run inside one sample so that each sample lasts tens of ms.
  const reps = Math.max(1, Math.floor(20_000 / n));
  for (let round = 0; round < ROUNDS; round++) {
    for (const peer of peers) {
      if (round >= roundsOf(peer.key)) continue;
      const r = peer.key === "effection" ? 1 : reps;
      const s = await timed(async () => {
        for (let k = 0; k < r; k++) await peer.run(kind, n);
      });
      samples[peer.key].push({ wall: s.wall / r, cpu: s.cpu / r });
    }
  }
  const row: Record<string, Cell> = {};
  for (const peer of peers) {
    const s = samples[peer.key];
    row[peer.key] = {
      wallUs: (median(s.map((x) => x.wall)) * 1000) / n,
      cpuUs: (median(s.map((x) => x.cpu)) * 1000) / n,
      rounds: s.length,
    };
    console.log(
      `${kind.padEnd(8)} N=${String(n).padEnd(7)} ${peer.label.padEnd(22)} wall ${row[peer.key].wallUs.toFixed(3)} µs/item, cpu ${row[peer.key].cpuUs.toFixed(3)} µs/item`,
    );
  }
  return row;
}

// ---- tree of 11,111 tasks, each waiting forever --------------------------------------------
const FANOUT = 10;
const DEPTH = 4;
const TREE = 11_111;

function* boughNode(depth: number, started: { n: number }): Operation<void> {
  started.n++;
  if (depth < DEPTH) {
    const selector = yield* useSelector<void, number>();
    for (let i = 0; i < FANOUT; i++) selector.add(i, boughNode(depth + 1, started));
  }
  yield* suspend();
}

function* effectionNode(depth: number, started: { n: number }): Operation<void> {
  started.n++;
  if (depth < DEPTH)
    for (let i = 0; i < FANOUT; i++) yield* spawn(() => effectionNode(depth + 1, started));
  yield* suspend();
}

function effectNode(depth: number, started: { n: number }): Effect.Effect<void> {
  return Effect.gen(function* () {
    started.n++;
    if (depth < DEPTH)
      for (let i = 0; i < FANOUT; i++) yield* Effect.forkChild(effectNode(depth + 1, started));
    yield* Effect.never;
  });
}

interface TreeSample {
  build: Sample;
  halt: Sample;
  /** Heap the built tree keeps, per task (after the full collection of `settle`). */
  bytes: number;
}

const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;

/**
 * Between build and halt (not timed): a full collection, so that the tree
 * has lived through one, as waiting tasks have by the time anything halts
 * them. Without it the halt's first allocations set off a scavenge that copies
 * the whole young tree, and whether that lands in the build's window or the
 * halt's changed from run to run (bough's halt measured 12–43 ms with the same
 * code; a build that allocates less moved the scavenge into the halt).
 */
function settle(): void {
  gc();
}

const heapUsed = () => process.memoryUsage().heapUsed;

async function effectionTree(node: typeof boughNode): Promise<TreeSample> {
  gc();
  const h0 = heapUsed();
  const started = { n: 0 };
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const task = run(() => node(0, started));
  while (started.n < TREE) await new Promise((r) => setImmediate(r));
  const build = { wall: performance.now() - t0, cpu: cpuMs(process.cpuUsage(c0)) };
  settle();
  const bytes = (heapUsed() - h0) / TREE;
  const c1 = process.cpuUsage();
  const t1 = performance.now();
  await task.halt();
  return { build, halt: { wall: performance.now() - t1, cpu: cpuMs(process.cpuUsage(c1)) }, bytes };
}

async function effectTree(): Promise<TreeSample> {
  gc();
  const h0 = heapUsed();
  const started = { n: 0 };
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const fiber = Effect.runFork(effectNode(0, started));
  while (started.n < TREE) await new Promise((r) => setImmediate(r));
  const build = { wall: performance.now() - t0, cpu: cpuMs(process.cpuUsage(c0)) };
  settle();
  const bytes = (heapUsed() - h0) / TREE;
  const c1 = process.cpuUsage();
  const t1 = performance.now();
  await Effect.runPromise(Fiber.interrupt(fiber));
  return { build, halt: { wall: performance.now() - t1, cpu: cpuMs(process.cpuUsage(c1)) }, bytes };
}

const TREES: { key: string; label: string; run: () => Promise<TreeSample> }[] = [
  { key: "bough", label: "bough (a selector per node)", run: () => effectionTree(boughNode) },
  { key: "effect", label: "Effect 4 (forkChild)", run: effectTree },
  { key: "effection", label: "effection (spawn)", run: () => effectionTree(effectionNode) },
].filter((p) => !ONLY || ONLY.includes(p.key));

interface TreeCell {
  build: { wallMs: number; cpuMs: number };
  halt: { wallMs: number; cpuMs: number };
  bytesPerTask: number;
}

async function trees(): Promise<Record<string, TreeCell>> {
  const samples: Record<string, TreeSample[]> = {};
  for (const t of TREES) {
    samples[t.key] = [];
    await t.run(); // warm-up
  }
  for (let round = 0; round < ROUNDS; round++)
    for (const t of TREES) samples[t.key].push(await t.run());
  const out: Record<string, TreeCell> = {};
  for (const t of TREES) {
    const s = samples[t.key];
    const pick = (phase: "build" | "halt") => ({
      wallMs: median(s.map((x) => x[phase].wall)),
      cpuMs: median(s.map((x) => x[phase].cpu)),
    });
    out[t.key] = {
      build: pick("build"),
      halt: pick("halt"),
      bytesPerTask: median(s.map((x) => x.bytes)),
    };
    console.log(
      `tree ${t.label.padEnd(28)} build ${out[t.key].build.wallMs.toFixed(1)} ms (cpu ${out[t.key].build.cpuMs.toFixed(1)}), halt ${out[t.key].halt.wallMs.toFixed(1)} ms (cpu ${out[t.key].halt.cpuMs.toFixed(1)}), ${Math.round(out[t.key].bytesPerTask)} B/task`,
    );
  }
  return out;
}

// ---- memory: heap kept per waiting item ----------------------------------------------------------
const MEMORY_N = 100_000;

/**
 * Heap bytes per waiting bough item: `MEMORY_N` items added and all waiting (none can
 * have settled: no microtask or timer has run since the first add), a full collection
 * before and after. Everything the item keeps counts: bough's routine and callbacks, the
 * operation's own generator and promise. Median of 3.
 */
async function liveBytesPerItem(kind: "promise" | "timer"): Promise<number> {
  const samples: number[] = [];
  for (let round = 0; round < 3; round++) {
    let bytes = 0;
    await run(function* () {
      yield* scoped(function* () {
        const selector = yield* useSelector<number, number>();
        gc();
        const before = process.memoryUsage().heapUsed;
        for (let i = 0; i < MEMORY_N; i++) selector.add(i, BOUGH_OPS[kind](i));
        gc();
        bytes = (process.memoryUsage().heapUsed - before) / MEMORY_N;
        let seen = 0;
        while (seen < MEMORY_N) seen += (yield* selector.select()).length;
      });
    });
    samples.push(bytes);
  }
  return median(samples);
}

// ---- run --------------------------------------------------------------------------------------
const loadBefore = loadAverage();
const items: Record<string, Record<string, Record<string, Cell>>> = {};
for (const { kind } of KINDS) {
  if (ONLY_KINDS && !ONLY_KINDS.includes(kind)) continue;
  items[kind] = {};
  for (const n of SIZES) items[kind][n] = await itemRow(kind, n);
}
const tree = !ONLY_KINDS || ONLY_KINDS.includes("tree") ? await trees() : {};
const memory =
  ONLY || ONLY_KINDS
    ? undefined
    : { promise: await liveBytesPerItem("promise"), timer: await liveBytesPerItem("timer") };
const loadAfter = loadAverage();

if (ONLY || ONLY_KINDS) process.exit(0); // a partial run (profiling) writes no results

const f = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const goals: { row: string; met: boolean; detail: string }[] = [];
/** A goal row: bough's cell `b` no slower than Effect's `e`, wall and CPU. */
function itemGoal(row: string, b: Cell, e: Cell): void {
  goals.push({
    row,
    met: b.cpuUs <= e.cpuUs && b.wallUs <= e.wallUs,
    detail: `bough/Effect ${ratio(b.wallUs, e.wallUs)} wall, ${ratio(b.cpuUs, e.cpuUs)} CPU`,
  });
}

const itemRows: string[][] = [];
for (const { kind, label } of KINDS) {
  for (const n of SIZES) {
    const c = items[kind][n];
    const b = c.bough;
    const e = c.effect;
    itemRows.push([
      label,
      n.toLocaleString("en"),
      `${f(b.wallUs)} / ${f(b.cpuUs)}`,
      `${f(e.wallUs)} / ${f(e.cpuUs)}`,
      `${ratio(b.wallUs, e.wallUs)} / ${ratio(b.cpuUs, e.cpuUs)}`,
      `${f(c.effection.wallUs)} / ${f(c.effection.cpuUs)}${c.effection.rounds < ROUNDS ? ` (${c.effection.rounds} round)` : ""}`,
      `${PLAIN_LABEL[kind]} ${f(c.plain.wallUs)} / ${f(c.plain.cpuUs)}`,
    ]);
    itemGoal(
      `${label}, N = ${n.toLocaleString("en")}${c.boughSliced ? ": bough in one loop, Effect in slices" : ""}`,
      b,
      e,
    );
  }
}
const slicedRows: string[][] = [];
for (const { kind, label } of KINDS) {
  for (const n of SIZES) {
    const c = items[kind][n];
    const sliced = c.boughSliced;
    const oneLoop = c.effectOneLoop;
    if (sliced === undefined || oneLoop === undefined) continue;
    slicedRows.push([
      label,
      n.toLocaleString("en"),
      `${f(c.bough.wallUs)} / ${f(c.bough.cpuUs)}`,
      `${f(oneLoop.wallUs)} / ${f(oneLoop.cpuUs)}`,
      `${ratio(c.bough.wallUs, oneLoop.wallUs)} / ${ratio(c.bough.cpuUs, oneLoop.cpuUs)}`,
      `${f(sliced.wallUs)} / ${f(sliced.cpuUs)}`,
      `${f(c.effect.wallUs)} / ${f(c.effect.cpuUs)}`,
      `${ratio(sliced.wallUs, c.effect.wallUs)} / ${ratio(sliced.cpuUs, c.effect.cpuUs)}`,
    ]);
    itemGoal(`${label}, N = ${n.toLocaleString("en")}, added in one loop, both`, c.bough, oneLoop);
    itemGoal(
      `${label}, N = ${n.toLocaleString("en")}, added in slices of ${SLICE_TEXT}, both`,
      sliced,
      c.effect,
    );
  }
}
const treeRows = TREES.map((t) => [
  t.label,
  `${f(tree[t.key].build.wallMs)} / ${f(tree[t.key].build.cpuMs)}`,
  `${f(tree[t.key].halt.wallMs)} / ${f(tree[t.key].halt.cpuMs)}`,
  `${ratio(tree[t.key].build.cpuMs, tree.bough.build.cpuMs)} / ${ratio(tree[t.key].halt.cpuMs, tree.bough.halt.cpuMs)}`,
  Math.round(tree[t.key].bytesPerTask).toLocaleString("en"),
]);
for (const phase of ["build", "halt"] as const) {
  const b = tree.bough[phase];
  const e = tree.effect[phase];
  goals.push({
    row: `tree of ${TREE.toLocaleString("en")}: ${phase}`,
    met: b.cpuMs <= e.cpuMs && b.wallMs <= e.wallMs,
    detail: `bough/Effect ${ratio(b.wallMs, e.wallMs)} wall, ${ratio(b.cpuMs, e.cpuMs)} CPU`,
  });
}

const markdown = `
Load average (1/5/15 min): ${loadBefore.join(" / ")} at the start, ${loadAfter.join(" / ")} at the end, on 2 cores shared with other work: read the ratios and the CPU columns, not the absolute wall times.

## One unit of work: start N items, collect every result (µs per item, wall / CPU, median of ${ROUNDS})

bough: \`useSelector\` + \`add\` + \`select\` until all are back (items that wait on a promise use bough's \`awaitPromise\`, as Effect's use its own \`Effect.promise\`; sleeping items use bough's \`delay(1)\`, the clock in context, whose sleeps of one duration begun together share one host timer). Effect 4: \`Effect.forkChild\` of the same kind of effect (\`Effect.succeed\`, \`Effect.promise\`, \`Effect.sleep\`) + \`Fiber.join\`. effection: \`spawn\` + join of the same operation${EFFECTION_BIG_ROUNDS < ROUNDS ? ` (at N ≥ 10,000 ${EFFECTION_BIG_ROUNDS} round, no warm-up: it costs ~100–200 µs per item)` : ""}. plain JS: one Promise / async function / \`setTimeout\` per item, collected in completion order. CPU is the process's user + system time over the same region (GC threads included).

${table(["item", "N", "bough", "Effect 4", "bough / Effect 4", "effection spawn+join", "plain JS"], itemRows)}

The promise row again, with bough's selector running effection's own \`until()\` instead of \`awaitPromise()\` (what an item written with effection's operations costs):

${table(
  ["N", "bough + awaitPromise()", "bough + until()", "Effect 4"],
  SIZES.filter(() => items.promise !== undefined).map((n) => {
    const c = items.promise[n];
    return [
      n.toLocaleString("en"),
      `${f(c.bough.wallUs)} / ${f(c.bough.cpuUs)}`,
      `${f(c.boughUntil.wallUs)} / ${f(c.boughUntil.cpuUs)}`,
      `${f(c.effect.wallUs)} / ${f(c.effect.cpuUs)}`,
    ];
  }),
)}

### Many items at once: in one loop, or in slices

Effect's fiber yields to the event loop after ${SLICE_TEXT} operations (\`Scheduler.MaxOpsBeforeYield\`), so its loop of \`forkChild\` runs in slices: the items of one slice settle before the next slice starts, and only a slice's items wait at once. bough's \`add()\` is a plain call: the loop runs to its end first and all N items wait together, each keeping the bytes measured below until the young-generation collector has copied it twice (into the survivor space, then into the old generation). So the table above compares bough's one loop with Effect's slices. Here each runtime does both: Effect with \`MaxOpsBeforeYield\` set to \`Number.MAX_SAFE_INTEGER\` (its loop never yields), bough with \`yield* yieldToEventLoop()\` after every ${SLICE_TEXT} adds (as Effect's fiber yields).

${table(
  [
    "item",
    "N",
    "bough, one loop",
    "Effect 4, never yields",
    "one loop: bough / Effect",
    `bough, yields every ${SLICE_TEXT} adds`,
    `Effect 4 (yields every ${SLICE_TEXT} ops)`,
    "slices: bough / Effect",
  ],
  slicedRows,
)}

## Memory: heap kept per waiting item (${MEMORY_N.toLocaleString("en")} bough items waiting, after a full collection, median of 3)

| item | bytes per item |
| --- | --- |
| waits on a promise (\`awaitPromise\`) | ${Math.round(memory?.promise ?? 0)} |
| sleeps (\`delay(1)\`) | ${Math.round(memory?.timer ?? 0)} |

Everything the item keeps counts: bough's routine, the promise's callback and its context or the sleep's, and the operation's own generator, its registers and the promise it awaits.

## Tree of ${TREE.toLocaleString("en")} tasks (${FANOUT} × ${FANOUT} × ${FANOUT} × ${FANOUT}, each waiting forever): build, then halt (ms, wall / CPU, median of ${ROUNDS})

${table(["runtime", "build", "halt", "CPU vs bough (build / halt)", "heap per task (bytes)"], treeRows)}

Between the build and the halt a full collection runs, not timed: the tree has lived through one, as waiting tasks have by the time anything halts them. Without it, the halt's first allocations set off a scavenge that copies the whole young tree, and whether that fell in the build's window or the halt's changed from run to run.

## Goal: bough ≤ Effect 4 on every row (wall and CPU)

${table(
  ["row", "met", "measured"],
  goals.map((g) => [g.row, g.met ? "met" : "**not met**", g.detail]),
)}
`;
writeResults(
  "core",
  {
    loadAverage: { before: loadBefore, after: loadAfter },
    rounds: ROUNDS,
    items,
    tree,
    bytesPerWaitingItem: memory,
    goals,
  },
  markdown,
);
