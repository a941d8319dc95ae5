/**
 * bench tracing: what bough/otel costs per unit of work, tracing off against tracing on.
 *
 * Two units of work, each in one long-lived setup that both variants share:
 *
 * - a memory hub publish and its delivery to 1 subscriber: `hub.publish()` in
 *   batches of BATCH, a subscriber task taking each message with `sub.next()`,
 *   the publisher waiting until the batch is consumed; HUB_N messages a sample;
 * - a thread pool call round trip: `checkout.call("inc", i)` one after the
 *   other on one checkout of a 1-worker thread pool whose worker is the plain
 *   `bench/fixtures/bough-worker.js` (untraced: it never enables tracing);
 *   POOL_N calls a sample.
 *
 * "Tracing on" is what docs/guides/tracing.md says: `useTracing()` with the
 * OpenTelemetry SDK's `BasicTracerProvider` registered and no exporter (no span
 * processor: spans start and end, then are dropped). Each on-sample enables it
 * in a scope of its own and the scope's end disables it, so the variants share
 * one process. Both variants run the work under one `labelled()` task, so that
 * traced publishes and calls are child spans of it, as in an app.
 *
 * Every sample reports wall time and CPU time (`process.cpuUsage`, user +
 * system of the whole process: GC threads and the pool's worker thread
 * included), per unit of work; each row is the median of ROUNDS rounds, the two
 * variants interleaved round by round (ABBA), after a warm-up of each. A last,
 * untimed run of each unit with a counting span processor gives the spans per
 * unit.
 *
 * No full collection is forced before a sample (core.ts forces one): here it
 * made the samples after it dearer, tracing on most (in runs of 2026-12-04:
 * a pool call on/off 1.5–1.9× with it, 1.3× without; a hub message 13–19 µs
 * on instead of 11), which no app that traces all the time pays. The garbage of one
 * sample lands in the next instead, in both variants alike (ABBA).
 * TRACING_GC=1 forces it, to see that.
 *
 *   npm run bench -- tracing
 *   TRACING_ROUNDS=9 TRACING_HUB_N=50000 npm run bench -- tracing
 */
import { trace } from "@opentelemetry/api";
import { BasicTracerProvider, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { type Operation, run, scoped, spawn } from "effection";
import { useHub } from "../src/hub/index.js";
import { labelled } from "../src/index.js";
import { useTracing } from "../src/otel/index.js";
import { usePool } from "../src/pool/index.js";
import { createLatch, loadAverage, median, table, writeResults } from "./report.js";

const ROUNDS = Number(process.env.TRACING_ROUNDS ?? 5);
const HUB_N = Number(process.env.TRACING_HUB_N ?? 20_000);
const POOL_N = Number(process.env.TRACING_POOL_N ?? 2_000);
/** Messages published before the publisher waits for the subscriber (the subscription's buffer). */
const BATCH = 100;
const worker = new URL("fixtures/bough-worker.js", import.meta.url);
/** TRACING_GC=1: a full collection before every sample (see above). */
const gc =
  process.env.TRACING_GC === "1"
    ? ((globalThis as { gc?: () => void }).gc ?? (() => {}))
    : () => {};

type Variant = "off" | "on";
interface Sample {
  /** µs per unit of work. */
  wall: number;
  cpu: number;
}

/** The SDK's tracer provider, no exporter: what `useTracing()` finds through `trace.getTracer`. */
trace.setGlobalTracerProvider(new BasicTracerProvider());

/** One unit of work repeated `n` times, under a labelled task. */
type Work = (n: number) => Operation<void>;

/**
 * One sample of `n` units of `work`: in a scope of its own, with tracing on
 * (`useTracing()`, ended with the scope) or off; enabling and disabling are
 * not timed.
 */
function* sample(variant: Variant, work: Work, n: number): Operation<Sample> {
  return yield* scoped(function* () {
    if (variant === "on") yield* useTracing();
    gc();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    yield* labelled("bench", () => work(n));
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    return { wall: (wall * 1000) / n, cpu: (c.user + c.system) / n };
  });
}

interface Row {
  row: string;
  n: number;
  off: Sample;
  on: Sample;
  /** Spans made per unit of work with tracing on, by `bough.kind`. */
  spans: Record<string, number>;
  rounds: number;
}

/** ROUNDS samples of each variant, interleaved ABBA, after a warm-up of each; then a span count. */
function* measure(row: string, work: Work, n: number): Operation<Row> {
  yield* sample("off", work, n);
  yield* sample("on", work, n);
  const got: Record<Variant, Sample[]> = { off: [], on: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order: Variant[] = round % 2 === 0 ? ["off", "on"] : ["on", "off"];
    for (const variant of order) got[variant].push(yield* sample(variant, work, n));
  }
  const pick = (v: Variant): Sample => ({
    wall: median(got[v].map((s) => s.wall)),
    cpu: median(got[v].map((s) => s.cpu)),
  });
  const result = {
    row,
    n,
    off: pick("off"),
    on: pick("on"),
    spans: yield* countSpans(work, n),
    rounds: ROUNDS,
  };
  console.log(
    `${row.padEnd(48)} off wall ${result.off.wall.toFixed(2)} cpu ${result.off.cpu.toFixed(2)} µs, on wall ${result.on.wall.toFixed(2)} cpu ${result.on.cpu.toFixed(2)} µs, spans ${JSON.stringify(result.spans)}`,
  );
  return result;
}

/** One untimed run with tracing on and a span processor that counts ended spans by `bough.kind`. */
function* countSpans(work: Work, n: number): Operation<Record<string, number>> {
  const counts: Record<string, number> = {};
  const counter: SpanProcessor = {
    onStart() {},
    onEnd(span) {
      const kind = String(span.attributes["bough.kind"]);
      counts[kind] = (counts[kind] ?? 0) + 1;
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const tracer = new BasicTracerProvider({ spanProcessors: [counter] }).getTracer("bough");
  yield* scoped(function* () {
    yield* useTracing({ tracer });
    yield* labelled("bench", () => work(n));
  });
  // the one "bench" task of the run
  if (counts.task !== undefined && --counts.task === 0) delete counts.task;
  const perUnit: Record<string, number> = {};
  for (const [kind, count] of Object.entries(counts)) perUnit[kind] = count / n;
  return perUnit;
}

// ---- run --------------------------------------------------------------------------------------

const loadBefore = loadAverage();
const rows = await run(function* () {
  const out: Row[] = [];

  // memory hub: one topic, one subscriber taking every message
  const hub = yield* useHub<number>({ topic: "bench", history: 0, buffer: BATCH });
  const consumed = createLatch();
  const sub = yield* hub.subscribe();
  yield* spawn(function* () {
    for (;;) {
      yield* sub.next();
      consumed.add();
    }
  });
  let sent = 0;
  const publish: Work = function* (n) {
    for (let i = 0; i < n; ) {
      for (let k = 0; k < BATCH && i < n; k++, i++) yield* hub.publish(sent++);
      yield* consumed.wait(sent);
    }
  };
  out.push(yield* measure("memory hub publish + delivery (1 subscriber)", publish, HUB_N));
  const stats = hub.stats();
  if (stats.delivered !== sent) throw new Error(`hub lost messages: ${stats.delivered} of ${sent}`);

  // thread pool: one checkout of a 1-worker pool, calls one after the other
  const pool = yield* usePool({ worker, maxWorkers: 1 });
  const checkout = yield* pool.checkout();
  const call: Work = function* (n) {
    for (let i = 0; i < n; i++) {
      if ((yield* checkout.call("inc", i)) !== i + 1) throw new Error("bad answer");
    }
  };
  out.push(yield* measure("thread pool call round trip (`checkout.call`)", call, POOL_N));
  return out;
});
const loadAfter = loadAverage();

const f = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const ratio = (on: number, off: number) => `${(on / off).toFixed(1)}×`;
const spanText = (spans: Record<string, number>) =>
  Object.entries(spans)
    .map(([kind, count]) => `${f(count)} \`${kind}\``)
    .join(" + ");

writeResults(
  "tracing",
  {
    loadAverage: { before: loadBefore, after: loadAfter },
    rounds: ROUNDS,
    forcedGc: process.env.TRACING_GC === "1",
    batch: BATCH,
    rows,
  },
  `
Load average (1/5/15 min): ${loadBefore.join(" / ")} at the start, ${loadAfter.join(" / ")} at the end, on 2 cores shared with other work: read the CPU columns and the ratios; wall times move with the load.

Tracing on: \`useTracing()\` with the OpenTelemetry SDK's \`BasicTracerProvider\` (registered, no span processor, no exporter), enabled in a scope of its own for each sample; off: the same work with no tracing. Both run under one \`labelled()\` task. Medians of ${ROUNDS} rounds, off and on interleaved round by round (ABBA) after a warm-up of each; ${process.env.TRACING_GC === "1" ? "a full collection is forced before every sample (`TRACING_GC=1`)" : "no collection is forced between samples (a forced one made the samples after it dearer, tracing on most; `TRACING_GC=1` forces it)"}. CPU is this process's user + system time (GC threads and the pool's worker thread included).

- Memory hub: \`hub.publish()\` of ${HUB_N.toLocaleString("en")} messages a sample, in batches of ${BATCH}, each batch consumed by 1 subscriber (\`sub.next()\` per message) before the next.
- Thread pool: ${POOL_N.toLocaleString("en")} \`checkout.call("inc", i)\` a sample, one after the other, on one checkout of a 1-worker thread pool; the worker (\`bench/fixtures/bough-worker.js\`, \`x => x + 1\`) does not trace.

## Per unit of work (µs, wall / CPU)

${table(
  ["per unit of work", "tracing off", "tracing on", "on / off", "spans per unit (on)"],
  rows.map((r) => [
    r.row,
    `${f(r.off.wall)} / ${f(r.off.cpu)}`,
    `${f(r.on.wall)} / ${f(r.on.cpu)}`,
    `${ratio(r.on.wall, r.off.wall)} / ${ratio(r.on.cpu, r.off.cpu)}`,
    spanText(r.spans),
  ]),
)}

Tracing on minus off: ${rows.map((r) => `${r.row}: ${f(r.on.wall - r.off.wall)} µs wall, ${f(r.on.cpu - r.off.cpu)} µs CPU`).join("; ")}.
`,
);
