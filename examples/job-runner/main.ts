/**
 * Job runner (seed 002): a job queue with a REST API, SSE progress, a
 * WebSocket queue feed and a live dashboard, structured and race-free.
 *
 *   npx tsx examples/job-runner/main.ts [--port 5001] [--host 127.0.0.1] [--concurrency 3] [--db jobs.sqlite]
 */
import { parseArgs } from "node:util";
import { main, suspend } from "effection";
import { label } from "../../src/index.js";
import { useJobRunnerApp } from "./app.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "5001" },
    host: { type: "string", default: "127.0.0.1" },
    concurrency: { type: "string", default: "3" },
    db: { type: "string" },
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

await main(function* () {
  yield* label("job-runner");
  const app = yield* useJobRunnerApp({ port, host: values.host, concurrency, db: values.db });
  const stats = app.runner.stats();
  const kept = values.db ? `, ${stats.total} jobs from ${values.db}` : "";
  console.log(`job-runner listening on ${app.url} (concurrency ${concurrency}${kept})`);
  yield* suspend();
});
