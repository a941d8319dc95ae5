/**
 * Periodic events (seed 000): a ticker and a heartbeat on one selector held by
 * the server's lifespan; `GET /`, `GET /next` (long-poll), `GET /stream` (NDJSON).
 *
 *   npx tsx examples/periodic-events/main.ts --help
 */
import cluster, { type Worker } from "node:cluster";
import { once } from "node:events";
import { createServer } from "node:net";
import { createSignal, exit, type Operation, sleep, suspend, until } from "effection";
import { useLeader, useRedisBroker } from "../../src/hub/redis.js";
import { label } from "../../src/index.js";
import { defineTool, intFlag, parseFlags, runTool } from "../cli.js";
import { type PeriodicEventsOptions, usePeriodicEvents } from "./app.js";

const tool = defineTool(
  import.meta.url,
  `usage: npx tsx examples/periodic-events/main.ts [flags]

A ticker and a heartbeat on one selector, served over HTTP: GET / (counts),
GET /next (long-poll for the next tick), GET /stream (NDJSON, one line per tick).

  --port N          HTTP port (default 5014; 0 picks a free one)
  --host ADDR       address to listen on (default 127.0.0.1)
  --tick-ms N       milliseconds between ticks (default 2000)
  --beat-ms N       milliseconds between heartbeats (default 5000)
  --redis URL       keep the hubs on Redis Streams; one process (the lease holder) ticks
  --lease-ms N      the leader lease with --redis (default max(1000, tick-ms))
  --workers N       a cluster of N processes on one port; the primary re-forks a worker that dies
  --fail-at-tick N  make the ticker throw at tick N (a failing source is never lost)
  -h, --help        print this help`,
);

const values = parseFlags(tool, {
  port: { type: "string", default: "5014" },
  host: { type: "string", default: "127.0.0.1" },
  "tick-ms": { type: "string", default: "2000" },
  "beat-ms": { type: "string", default: "5000" },
  redis: { type: "string" },
  workers: { type: "string", default: "1" },
  "fail-at-tick": { type: "string" },
  "lease-ms": { type: "string" },
});

const port = intFlag(tool, "port", values.port, 0, 65_535);
const tickMs = intFlag(tool, "tick-ms", values["tick-ms"], 1);
const beatMs = intFlag(tool, "beat-ms", values["beat-ms"], 1);
const workers = intFlag(tool, "workers", values.workers, 1);
const failAtTick =
  values["fail-at-tick"] === undefined
    ? undefined
    : intFlag(tool, "fail-at-tick", values["fail-at-tick"], 1);
const leaseMs =
  values["lease-ms"] === undefined
    ? Math.max(1000, tickMs)
    : intFlag(tool, "lease-ms", values["lease-ms"], 10);

/** Fails with EADDRINUSE (one line from runTool) before any worker is forked. */
function* portIsFree(): Operation<void> {
  const probe = createServer();
  try {
    yield* until(
      new Promise<void>((resolve, reject) => {
        probe.once("error", reject);
        probe.listen(port, values.host, () => resolve());
      }),
    );
  } finally {
    probe.close();
  }
}

/** Asks every live worker to stop and waits for them (SIGKILL after 10 s): no orphans, no zombies. */
function* stopAll(live: Set<Worker>): Operation<void> {
  const gone = [...live].map((worker) =>
    worker.process.exitCode !== null || worker.process.signalCode !== null
      ? Promise.resolve()
      : once(worker.process, "exit").then(() => undefined),
  );
  for (const worker of live) worker.process.kill("SIGTERM");
  const timer = setTimeout(() => {
    for (const worker of live) worker.process.kill("SIGKILL");
  }, 10_000);
  try {
    yield* until(Promise.all(gone));
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The cluster primary: forks the workers, re-forks one that dies (at most 5
 * times in 10 s), and on shutdown stops them all and waits for them. A worker
 * exiting with status 2 (a usage error) stops the cluster with status 2.
 */
function* primary(): Operation<void> {
  yield* label("cluster primary");
  if (!values.redis) {
    console.warn(
      `warning: --workers ${workers} without --redis: each worker runs its own ticker and in-memory hub, ` +
        "so the count differs between workers (see seed 000). Add --redis URL to share one.",
    );
  }
  if (port !== 0) yield* portIsFree();
  const live = new Set<Worker>();
  const exits = createSignal<[Worker, number | null, string | null]>();
  const onExit = (worker: Worker, code: number | null, signal: string | null) =>
    exits.send([worker, code, signal]);
  cluster.on("exit", onExit);
  let status = 0;
  try {
    const fork = () => live.add(cluster.fork());
    const subscription = yield* exits;
    for (let i = 0; i < workers; i++) fork();
    console.log(
      `periodic-events primary ready: ${workers} workers on http://${values.host}:${port} (pid ${process.pid})`,
    );
    const reforks: number[] = [];
    for (;;) {
      const next = yield* subscription.next();
      if (next.done) break;
      const [worker, code, signal] = next.value;
      live.delete(worker);
      console.error(`worker ${worker.process.pid} exited (${signal ?? code})`);
      if (code === 2) {
        status = 2; // a usage error: another fork would fail the same way
        break;
      }
      const now = Date.now();
      while (reforks.length > 0 && now - (reforks[0] ?? 0) > 10_000) reforks.shift();
      if (reforks.length >= 5) {
        console.error("workers keep dying (5 re-forks within 10 s): stopping the cluster");
        status = 1;
        break;
      }
      reforks.push(now);
      yield* sleep(100 * reforks.length);
      fork();
    }
  } finally {
    yield* stopAll(live);
    cluster.off("exit", onExit);
  }
  if (status !== 0) yield* exit(status);
}

/** One server process (the only one without --workers). */
function* server(): Operation<void> {
  yield* label("periodic-events");
  const options: PeriodicEventsOptions = { port, host: values.host, tickMs, beatMs, failAtTick };
  const redis = values.redis;
  if (redis) {
    // Every process serves and subscribes through Redis Streams; one process at a time
    // (the holder of the lease) runs the ticker and the heartbeat.
    options.broker = yield* useRedisBroker({ url: redis });
    options.lead = function* (sources) {
      yield* useLeader({ redis, key: "periodic-events:leader", ttlMs: leaseMs }, function* (term) {
        console.log(
          `pid ${process.pid} leads: running the ticker and the heartbeat (fencing token ${term.fencingToken})`,
        );
        yield* sources();
      });
      yield* suspend();
    };
  }
  const app = yield* usePeriodicEvents(options);
  console.log(
    `periodic-events listening on ${app.url} (pid ${process.pid}, tick ${tickMs} ms, beat ${beatMs} ms)`,
  );
  yield* suspend();
}

await runTool(tool, workers > 1 && cluster.isPrimary ? primary : server);
