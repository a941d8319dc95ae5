/**
 * Job runner (seed 002): a job queue with a REST API, SSE progress, a
 * WebSocket queue feed and a live dashboard, structured and race-free.
 *
 *   npx tsx examples/job-runner/main.ts [--port 5001] [--host 127.0.0.1] [--concurrency 3]
 *     [--db jobs.sqlite] [--retain 1000] [--state-page 200] [--public DIR]
 *     [--redis redis://127.0.0.1:6379 [--claim-ms 5000] [--on-interrupted fail|rerun]]
 *     [--status-port N] [--trace]
 *
 * `--status-port` serves the live inspector (bough/inspect) on 127.0.0.1:N;
 * `--trace` turns the task tree into OpenTelemetry spans (bough/otel) for the
 * tracer provider an OpenTelemetry SDK registered (see the README).
 *
 * It speaks PAGI's job-runner protocol, so `--public` can serve PAGI's own
 * browser client (its `examples/11-job-runner/public` folder) unchanged.
 */
import { parseArgs } from "node:util";
import { main, suspend } from "effection";
import { label } from "../../src/index.js";
import { useInspector } from "../../src/inspect/index.js";
import { useTracing } from "../../src/otel/index.js";
import { useJobRunnerApp } from "./app.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "5001" },
    host: { type: "string", default: "127.0.0.1" },
    concurrency: { type: "string", default: "3" },
    db: { type: "string" },
    retain: { type: "string", default: "1000" },
    "state-page": { type: "string", default: "200" },
    public: { type: "string" },
    redis: { type: "string" },
    "claim-ms": { type: "string", default: "5000" },
    "on-interrupted": { type: "string", default: "fail" },
    "status-port": { type: "string" },
    trace: { type: "boolean", default: false },
  },
});

function intFlag(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(
      `--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
    process.exit(2);
  }
  return n;
}

const port = intFlag("port", values.port, 0, 65535);
const concurrency = intFlag("concurrency", values.concurrency, 1, 64);
const retainFinished = intFlag("retain", values.retain, 0, 1_000_000);
const statePageSize = intFlag("state-page", values["state-page"], 1, 100_000);
const claimMs = intFlag("claim-ms", values["claim-ms"], 300, 3_600_000);
const statusPort =
  values["status-port"] === undefined
    ? undefined
    : intFlag("status-port", values["status-port"], 0, 65535);
const onInterrupted = values["on-interrupted"];
if (onInterrupted !== "fail" && onInterrupted !== "rerun") {
  console.error(`--on-interrupted must be fail or rerun, got ${JSON.stringify(onInterrupted)}`);
  process.exit(2);
}
if (values.redis !== undefined && values.db !== undefined) {
  console.error("--db and --redis exclude each other: with --redis the jobs live in Redis");
  process.exit(2);
}

await main(function* () {
  yield* label("job-runner");
  if (values.trace) yield* useTracing();
  const inspector =
    statusPort === undefined
      ? undefined
      : yield* useInspector({ listen: { port: statusPort, title: "job-runner" } });
  const app = yield* useJobRunnerApp({
    port,
    host: values.host,
    concurrency,
    db: values.db,
    retainFinished,
    statePageSize,
    publicDir: values.public,
    redis: values.redis,
    claimMs,
    onInterrupted,
  });
  const stats = app.runner.stats();
  const kept = values.db
    ? `, ${stats.total} jobs from ${values.db}`
    : values.redis
      ? `, member ${app.runner.member} of cluster ${app.runner.instance} on ${values.redis}`
      : "";
  console.log(`job-runner listening on ${app.url} (concurrency ${concurrency}${kept})`);
  if (inspector) console.log(`job-runner inspector on ${inspector.url}`);
  yield* suspend();
});
