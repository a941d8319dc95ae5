/**
 * bench pool-exits: a local pool whose every worker exits right after
 * returning (issue 15: a dead worker is never handed out). Each call is
 * `exitAfter(i)` on its own checkout; 4 callers share 2 workers, so a reply,
 * the next checkout and the worker's exit race on every call. Counts calls
 * that failed (0 expected, `WorkerCrashedError` above all), wrong results,
 * and distinct workers that served a call (= calls when every worker exited
 * after its one call), for thread and process workers.
 *
 * Runs on the built package (`npm run build` first) with a plain JavaScript
 * worker (bench/pool-server-worker.js): from source, every worker would first
 * load tsx.
 *
 * Run: `npm run bench -- pool-exits` (writes bench/results/pool-exits.{json,md}).
 * `EXIT_N` (default 1000) and `EXIT_PROCESS_N` (default `EXIT_N`) change the counts.
 */
import { existsSync } from "node:fs";
import { all, run, scoped } from "effection";
import { loadAverage, table, writeResults } from "./report.js";

const dist = new URL("../dist/pool/index.js", import.meta.url);
if (!existsSync(dist)) {
  console.error("bench pool-exits runs on the built package: run `npm run build` first");
  process.exit(2);
}
const { usePool } = (await import(dist.href)) as typeof import("../src/pool/index.js");
const worker = new URL("./pool-server-worker.js", import.meta.url);
const CALLS = Number(process.env.EXIT_N ?? 1000);
const PROCESS_CALLS = Number(process.env.EXIT_PROCESS_N ?? CALLS);

type Echo = { inc(x: number): number; exitAfter<T>(value: T): T };

function* exitingWorkers(transport: "thread" | "process", calls: number) {
  const callers = 4;
  const started = performance.now();
  let wrong = 0;
  const errors = new Map<string, number>();
  const workers = new Set<string>();
  const pool = yield* usePool<Echo>({ worker, transport, maxWorkers: 2, timeoutMs: 600_000 });
  let next = 0;
  yield* all(
    Array.from({ length: callers }, () =>
      scoped(function* () {
        while (next < calls) {
          const i = next++;
          yield* scoped(function* () {
            const checkout = yield* pool.checkout();
            try {
              if ((yield* checkout.call("exitAfter", i)) !== i) wrong++;
            } catch (error) {
              const name = (error as Error).name;
              errors.set(name, (errors.get(name) ?? 0) + 1);
            }
            const info = checkout.worker;
            if (info) workers.add(`${info.pid}/${info.threadId}`);
          });
        }
      }),
    ),
  );
  const ms = performance.now() - started;
  return {
    transport,
    calls,
    callers,
    maxWorkers: 2,
    failed: [...errors.values()].reduce((a, b) => a + b, 0),
    crashed: errors.get("WorkerCrashedError") ?? 0,
    wrongResults: wrong,
    errors: Object.fromEntries(errors),
    workersServing: workers.size,
    workersSpawned: pool.stats().spawned,
    ms: Math.round(ms),
    callsPerS: Number(((calls / ms) * 1000).toFixed(1)),
  };
}

const loadBefore = loadAverage();
const results = await run(function* () {
  const rows = [];
  if (CALLS > 0) rows.push(yield* scoped(() => exitingWorkers("thread", CALLS)));
  if (PROCESS_CALLS > 0) rows.push(yield* scoped(() => exitingWorkers("process", PROCESS_CALLS)));
  return rows;
});
const loadAfter = loadAverage();
const md = [
  `Load average (1, 5, 15 min) before: ${loadBefore.join(", ")}; after: ${loadAfter.join(", ")} (2 cores shared with other work: read times as upper bounds).`,
  "",
  "A local pool (2 workers, 4 callers in turn) where every call is `exitAfter(i)` on a checkout of its own: the worker returns `i` and exits from a microtask, before it reads another frame, so every worker serves exactly one call (workers that served = calls). A worker that said it is leaving is never handed to the next checkout, and a checkout it was handed to as it exited goes, first in line, to another worker.",
  "",
  table(
    [
      "workers",
      "calls",
      "failed",
      "WorkerCrashedError",
      "wrong results",
      "workers that served",
      "workers spawned",
      "time",
      "calls/s",
    ],
    results.map((r) => [
      r.transport,
      r.calls,
      r.failed,
      r.crashed,
      r.wrongResults,
      r.workersServing,
      r.workersSpawned,
      `${(r.ms / 1000).toFixed(1)} s`,
      r.callsPerS,
    ]),
  ),
].join("\n");
writeResults("pool-exits", { loadavg: { before: loadBefore, after: loadAfter }, results }, md);
