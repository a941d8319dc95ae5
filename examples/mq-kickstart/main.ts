/**
 * Seed 001: a MessageQueue consumer that polls rarely and is kick-started by
 * a UDP datagram, with an embedded status page (counters, live task tree,
 * last 1000 lines of stdout and stderr).
 *
 *   npx tsx examples/mq-kickstart/main.ts [--db PATH] [--types email,report]
 *       [--poll-ms 60000] [--udp-port 8001] [--http-port 8080] [--host 127.0.0.1]
 *       [--status-host 127.0.0.1]
 *       [--work-ms 0]
 *
 * Then, in another shell:
 *
 *   npx tsx examples/mq-kickstart/produce.ts --type email --data "hello"
 *   curl -s localhost:8080/status.json
 */
import { parseArgs } from "node:util";
import { each, ensure, main, type Operation, scoped, spawn } from "effection";
import { error, text, useServer } from "../../src/http/index.js";
import { delay, label } from "../../src/index.js";
import { type Counters, useInspector } from "../../src/inspect/index.js";
import { type PollReason, poll, useUdpSocket } from "../../src/sources/index.js";
import { kicksFrom } from "./kicks.js";
import { DEFAULT_DB, type Message, type MessageQueue, useMessageQueue } from "./message-queue.js";

/** The example's flags, parsed. */
interface Options {
  db: string;
  types: string[];
  pollMs: number;
  udpPort: number;
  httpPort: number;
  host: string;
  /** The status page's own address: local unless asked, even when `host` is 0.0.0.0. */
  statusHost: string;
  workMs: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: "string", default: DEFAULT_DB },
      types: { type: "string", default: "email,report" },
      "poll-ms": { type: "string", default: "60000" },
      "udp-port": { type: "string", default: "8001" },
      "http-port": { type: "string", default: "8080" },
      host: { type: "string", default: "127.0.0.1" },
      "status-host": { type: "string", default: "127.0.0.1" },
      "work-ms": { type: "string", default: "0" },
    },
  });
  const number = (name: string, value: string, min: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new TypeError(`--${name} must be an integer >= ${min}, got ${value}`);
    return n;
  };
  const types = values.types
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  if (types.length === 0) throw new TypeError("--types must name at least one type");
  return {
    db: values.db,
    types,
    pollMs: number("poll-ms", values["poll-ms"], 1),
    udpPort: number("udp-port", values["udp-port"], 0),
    httpPort: number("http-port", values["http-port"], 0),
    host: values.host,
    statusHost: values["status-host"],
    workMs: number("work-ms", values["work-ms"], 0),
  };
}

const stamp = () => new Date().toISOString();

/**
 * The work for one row. A real consumer would send the email or build the
 * report; this one logs, optionally takes `--work-ms`, and fails on purpose
 * when the row's data contains "fail", to show what a failure looks like.
 */
function* handle(row: Message, workMs: number): Operation<void> {
  if (workMs > 0) yield* delay(workMs);
  if (row.data.includes("fail")) {
    throw new Error(`cannot handle ${row.type} row ${row.id}: its data asks to fail`);
  }
  const verb =
    row.type === "email"
      ? "sent email"
      : row.type === "report"
        ? "built report"
        : `handled ${row.type}`;
  console.log(`${stamp()} ${verb} for row ${row.id}: ${JSON.stringify(row.data)}`);
}

/**
 * One run of the consumer: takes the rows of the served types oldest first,
 * one at a time; deletes each after its handler succeeded; a failing row
 * stays (and is skipped for the rest of this run) and becomes the last error.
 */
function* drain(
  queue: MessageQueue,
  options: Options,
  counters: Counters,
  reason: PollReason,
): Operation<void> {
  const run = counters.inc("iterations");
  counters.inc(reason === "kick" ? "runsByKick" : "runsByTimer");
  yield* label(`run #${run} (${reason})`);
  const started = performance.now();
  const failed: number[] = [];
  let handled = 0;
  let lastYield = started;
  for (
    let row = queue.oldest(options.types, failed);
    row;
    row = queue.oldest(options.types, failed)
  ) {
    const current = row;
    let ok = false;
    try {
      yield* scoped(function* () {
        yield* label(`row ${current.id} (${current.type})`);
        yield* handle(current, options.workMs);
      });
      ok = true;
    } catch (failure) {
      failed.push(current.id);
      counters.inc("rowsFailed");
      const message = failure instanceof Error ? failure.message : String(failure);
      counters.set("lastError", message);
      counters.set("lastErrorAt", stamp());
      console.error(`${stamp()} row ${current.id} left in the queue: ${message}`);
    }
    if (ok) {
      // outside the try: a database failure is not the row's fault, it stops the consumer
      queue.remove(current.id);
      counters.inc("rowsProcessed");
      handled++;
    }
    // better-sqlite3 is synchronous: let sockets and the status page in now and then
    if (performance.now() - lastYield > 20) {
      yield* delay(0);
      lastYield = performance.now();
    }
  }
  const ms = Math.round(performance.now() - started);
  counters.set("lastRunAt", stamp());
  counters.set("lastRunReason", reason);
  counters.set("lastRunMs", ms);
  counters.set("rowsWaiting", queue.count(options.types));
  if (handled > 0 || failed.length > 0 || reason === "timer") {
    console.log(
      `${stamp()} run #${run} (${reason}): ${handled} handled, ${failed.length} failed in ${ms} ms`,
    );
  }
}

await main(function* (argv) {
  yield* label("mq-kickstart");
  // registered first, so it runs last, once everything below is closed
  yield* ensure(() => {
    console.log(`${stamp()} mq-kickstart stopped`);
  });
  const options = parseOptions(argv);
  const inspector = yield* useInspector({ capture: { lines: 1000 } });
  const { counters } = inspector;
  for (const name of [
    "iterations",
    "runsByKick",
    "runsByTimer",
    "rowsProcessed",
    "rowsFailed",
    "datagrams",
    "kicks",
    "datagramsIgnored",
    "overlaps",
  ]) {
    counters.set(name, 0);
  }
  for (const name of [
    "lastError",
    "lastErrorAt",
    "lastRunAt",
    "lastRunReason",
    "lastRunMs",
    "rowsWaiting",
  ]) {
    counters.set(name, null);
  }

  const queue = yield* useMessageQueue(options.db);
  const udp = yield* useUdpSocket({
    port: options.udpPort,
    host: options.host,
    recvBufferSize: 4 * 1024 * 1024,
  });

  const routes = inspector.statusRoutes("/status", { title: "mq-kickstart", refreshMs: 2000 });
  // the inspector's routes are plain node:http handlers: mount them in bough/http's server
  const server = yield* useServer({
    port: options.httpPort,
    host: options.statusHost,
    shutdownGraceMs: 500,
    *handler(ctx) {
      if (routes.handle(ctx.request, ctx.response)) return undefined;
      if (ctx.path === "/") return text("see /status\n", 302, { location: routes.htmlPath });
      return error(404, "not found");
    },
  });

  const consumer = yield* spawn(function* () {
    yield* label("consumer");
    let running = false;
    const reasons = poll({
      interval: options.pollMs,
      kick: kicksFrom(udp.messages, counters),
      immediate: true,
    });
    for (const reason of yield* each(reasons)) {
      if (running) counters.inc("overlaps"); // cannot happen: poll hands out one run at a time
      running = true;
      yield* label("consumer (running)");
      try {
        yield* scoped(() => drain(queue, options, counters, reason));
      } finally {
        running = false;
      }
      // labelling again renames: the status page's tree says what the consumer waits for
      yield* label(
        `consumer (idle; next poll by ${new Date(Date.now() + options.pollMs).toISOString()})`,
      );
      yield* each.next();
    }
  });

  console.log(
    `${stamp()} mq-kickstart ready: status ${server.url}${routes.htmlPath} · udp ${udp.address.address}:${udp.address.port} · db ${options.db} · types ${options.types.join(",")} · poll every ${options.pollMs} ms`,
  );
  yield* consumer;
});
