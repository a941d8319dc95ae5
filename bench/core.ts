/**
 * bench core: the cost of a selector item and of a task tree, side by side
 * with raw effection, plain Promises and Effect 4, measured in one run.
 *
 *   npm run bench -- core
 */
import { Effect, Fiber } from "effect";
import { type Operation, run, scoped, spawn, suspend, until } from "effection";
import { useSelector } from "../src/index.js";
import { median, table, writeResults } from "./report.js";

const N = 100_000;
const ROUNDS = 5;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

async function measure(name: string, fn: () => Promise<void>): Promise<number> {
  await fn(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    gc();
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  const ms = median(samples);
  console.log(`${name.padEnd(48)} ${((ms * 1000) / N).toFixed(3)} µs/item`);
  return (ms * 1000) / N;
}

// An item that returns without suspending: the benchmark's "trivial item".
function* trivial(i: number): Operation<number> {
  return i;
}
// An item that suspends once on a resolved promise.
function* suspending(i: number): Operation<number> {
  yield* until(Promise.resolve());
  return i;
}

async function selectorItems(make: (i: number) => Operation<number>): Promise<void> {
  await run(function* () {
    yield* scoped(function* () {
      const selector = yield* useSelector<number, number>();
      for (let i = 0; i < N; i++) selector.add(i, make(i));
      let seen = 0;
      while (seen < N) seen += (yield* selector.select()).length;
    });
  });
}

async function effectionSpawnJoin(): Promise<void> {
  await run(function* () {
    const tasks = [];
    for (let i = 0; i < N; i++) tasks.push(yield* spawn(() => trivial(i)));
    let sum = 0;
    for (const task of tasks) sum += yield* task;
    if (sum < 0) throw new Error("unreachable");
  });
}

async function promiseRace(): Promise<void> {
  // the Promise equivalent of a selector loop: start N, collect in completion order
  const done: number[] = [];
  let wake: (() => void) | undefined;
  for (let i = 0; i < N; i++) {
    Promise.resolve(i).then((v) => {
      done.push(v);
      wake?.();
    });
  }
  let seen = 0;
  while (seen < N) {
    if (done.length === 0) await new Promise<void>((r) => (wake = r));
    seen += done.splice(0).length;
  }
}

async function effectForkJoin(): Promise<void> {
  await Effect.runPromise(
    Effect.gen(function* () {
      const fibers = [];
      for (let i = 0; i < N; i++) fibers.push(yield* Effect.forkChild(Effect.succeed(i)));
      for (const fiber of fibers) yield* Fiber.join(fiber);
    }),
  );
}

// ---- tree of 11,111 tasks, each waiting forever -------------------------------------------
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

async function effectionTree(node: typeof boughNode): Promise<{ build: number; halt: number }> {
  const started = { n: 0 };
  const t0 = performance.now();
  const task = run(() => node(0, started));
  while (started.n < TREE) await new Promise((r) => setImmediate(r));
  const t1 = performance.now();
  await task.halt();
  const t2 = performance.now();
  return { build: t1 - t0, halt: t2 - t1 };
}

function effectNode(depth: number, started: { n: number }): Effect.Effect<void> {
  return Effect.gen(function* () {
    started.n++;
    if (depth < DEPTH)
      for (let i = 0; i < FANOUT; i++) yield* Effect.forkChild(effectNode(depth + 1, started));
    yield* Effect.never;
  });
}

async function effectTree(): Promise<{ build: number; halt: number }> {
  const started = { n: 0 };
  const t0 = performance.now();
  const fiber = Effect.runFork(effectNode(0, started));
  while (started.n < TREE) await new Promise((r) => setImmediate(r));
  const t1 = performance.now();
  await Effect.runPromise(Fiber.interrupt(fiber));
  const t2 = performance.now();
  return { build: t1 - t0, halt: t2 - t1 };
}

async function tree(name: string, fn: () => Promise<{ build: number; halt: number }>) {
  await fn();
  const builds: number[] = [];
  const halts: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    gc();
    const { build, halt } = await fn();
    builds.push(build);
    halts.push(halt);
  }
  const result = { name, buildMs: median(builds), haltMs: median(halts) };
  console.log(
    `${name.padEnd(20)} build ${result.buildMs.toFixed(1)} ms, halt ${result.haltMs.toFixed(1)} ms`,
  );
  return result;
}

const items = {
  selectorTrivial: await measure("bough useSelector, trivial items", () => selectorItems(trivial)),
  selectorSuspending: await measure("bough useSelector, items that suspend once", () =>
    selectorItems(suspending),
  ),
  effectionSpawnJoin: await measure("effection spawn + join per item", effectionSpawnJoin),
  promise: await measure("Promise + completion-order loop", promiseRace),
  effectForkJoin: await measure("Effect 4 forkChild + Fiber.join", effectForkJoin),
};
const trees = [
  await tree("bough (selectors)", () => effectionTree(boughNode)),
  await tree("raw effection", () => effectionTree(effectionNode)),
  await tree("Effect 4", effectTree),
];

const goal = 2;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const markdown = `
## Selector item: add + select, ${N.toLocaleString("en")} items (median of ${ROUNDS})

${table(
  ["approach", "µs per item", "vs bough trivial"],
  [
    [
      "bough `useSelector`, trivial items (return without suspending)",
      items.selectorTrivial.toFixed(3),
      "1.00×",
    ],
    [
      "bough `useSelector`, items that suspend once (`until`)",
      items.selectorSuspending.toFixed(3),
      ratio(items.selectorSuspending, items.selectorTrivial),
    ],
    [
      "effection `spawn` + join per item",
      items.effectionSpawnJoin.toFixed(3),
      ratio(items.effectionSpawnJoin, items.selectorTrivial),
    ],
    [
      "Promise + completion-order loop",
      items.promise.toFixed(3),
      ratio(items.promise, items.selectorTrivial),
    ],
    [
      "Effect 4 `forkChild` + `Fiber.join`",
      items.effectForkJoin.toFixed(3),
      ratio(items.effectForkJoin, items.selectorTrivial),
    ],
  ],
)}

Goal: a trivial selector item costs at most ${goal} µs — ${items.selectorTrivial <= goal ? "**met**" : "**missed**"} (${items.selectorTrivial.toFixed(3)} µs).
An item that suspends runs as a light routine stepped by bough (no effection task), about ${ratio(items.effectionSpawnJoin, items.selectorSuspending)} cheaper than \`spawn\` + join; it gets a scope of its own only if it touches one.

## Tree of ${TREE.toLocaleString("en")} tasks (${FANOUT} × ${FANOUT} × ${FANOUT} × ${FANOUT}, each waiting forever): build, then halt

${table(
  ["runtime", "build ms", "halt ms", "build vs effection", "halt vs effection"],
  trees.map((t) => [
    t.name,
    t.buildMs.toFixed(1),
    t.haltMs.toFixed(1),
    ratio(t.buildMs, trees[1].buildMs),
    ratio(t.haltMs, trees[1].haltMs),
  ]),
)}
`;
writeResults("core", { items, trees, goalMicros: goal }, markdown);
