/**
 * Periodic events (seed 000): a ticker and a heartbeat on one selector held by
 * the server's lifespan; `GET /`, `GET /next` (long-poll), `GET /stream` (NDJSON).
 *
 *   npx tsx examples/periodic-events/main.ts [--port 5014] [--tick-ms 2000] [--beat-ms 5000]
 *       [--redis redis://127.0.0.1:6379 [--lease-ms N]] [--workers N] [--fail-at-tick N]
 */
import cluster from "node:cluster";
import { parseArgs } from "node:util";
import { main, suspend } from "effection";
import { useLeader, useRedisBroker } from "../../src/hub/redis.js";
import { label } from "../../src/index.js";
import { type PeriodicEventsOptions, usePeriodicEvents } from "./app.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "5014" },
    host: { type: "string", default: "127.0.0.1" },
    "tick-ms": { type: "string", default: "2000" },
    "beat-ms": { type: "string", default: "5000" },
    redis: { type: "string" },
    workers: { type: "string", default: "1" },
    "fail-at-tick": { type: "string" },
    "lease-ms": { type: "string" },
  },
});

function intFlag(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

const port = intFlag("port", values.port, 0) ?? 5014;
const tickMs = intFlag("tick-ms", values["tick-ms"], 1) ?? 2000;
const beatMs = intFlag("beat-ms", values["beat-ms"], 1) ?? 5000;
const workers = intFlag("workers", values.workers, 1) ?? 1;
const failAtTick = intFlag("fail-at-tick", values["fail-at-tick"], 1);
const leaseMs = intFlag("lease-ms", values["lease-ms"], 10) ?? Math.max(1000, tickMs);

if (workers > 1 && cluster.isPrimary) {
  if (!values.redis) {
    console.warn(
      `warning: --workers ${workers} without --redis: each worker runs its own ticker and in-memory hub, ` +
        "so the count differs between workers (see seed 000). Add --redis URL to share one.",
    );
  }
  await main(function* () {
    yield* label("cluster primary");
    for (let i = 0; i < workers; i++) cluster.fork();
    let exited = 0;
    cluster.on("exit", (worker, code, signal) => {
      console.error(`worker ${worker.process.pid} exited (${signal ?? code})`);
      if (++exited === workers) process.exit(1);
    });
    console.log(`primary ${process.pid}: ${workers} workers on http://${values.host}:${port}`);
    yield* suspend();
  });
} else {
  await main(function* () {
    yield* label("periodic-events");
    const options: PeriodicEventsOptions = { port, host: values.host, tickMs, beatMs, failAtTick };
    const redis = values.redis;
    if (redis) {
      // Every process serves and subscribes through Redis Streams; one process at a time
      // (the holder of the lease) runs the ticker and the heartbeat.
      options.broker = yield* useRedisBroker({ url: redis });
      options.lead = function* (sources) {
        yield* useLeader(
          { redis, key: "periodic-events:leader", ttlMs: leaseMs },
          function* (term) {
            console.log(
              `pid ${process.pid} leads: running the ticker and the heartbeat (fencing token ${term.fencingToken})`,
            );
            yield* sources();
          },
        );
        yield* suspend();
      };
    }
    const app = yield* usePeriodicEvents(options);
    console.log(
      `periodic-events listening on ${app.url} (pid ${process.pid}, tick ${tickMs} ms, beat ${beatMs} ms)`,
    );
    yield* suspend();
  });
}
