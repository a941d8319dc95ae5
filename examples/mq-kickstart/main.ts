/**
 * Seed 001: a MessageQueue consumer that polls rarely and is kick-started by
 * a UDP datagram, with an embedded status page (counters, live task tree,
 * last 1000 lines of stdout and stderr).
 *
 *   npx tsx examples/mq-kickstart/main.ts [--db PATH] [--types email,report] … (--help)
 *
 * Then, in another shell:
 *
 *   npx tsx examples/mq-kickstart/produce.ts --type email --data "hello"
 *   curl -s localhost:8080/status.json
 */
import { rmSync } from "node:fs";
import { each, ensure, type Operation, scoped, spawn } from "effection";
import { error, text, useServer } from "../../src/http/index.js";
import { delay, label } from "../../src/index.js";
import { type Counters, useInspector } from "../../src/inspect/index.js";
import { type PollReason, poll, useUdpSocket } from "../../src/sources/index.js";
import { defineTool, intFlag, parseFlags, runTool, usageError } from "../cli.js";
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

const tool = defineTool(
  import.meta.url,
  `usage: npx tsx examples/mq-kickstart/main.ts [flags]

A MessageQueue consumer (SQLite) that polls rarely and is kick-started by a UDP datagram,
with a status page. Insert rows and kick it with examples/mq-kickstart/produce.ts.

  --db PATH       the SQLite database; without it, a fresh demo database in the temp
                  directory, emptied at start and removed at exit
  --types LIST    the row types served, comma-separated (default email,report)
  --poll-ms N     quiet time after a run before the next poll (default 60000)
  --udp-port N    where kicks arrive (default 8001; 0 picks a free one)
  --http-port N   the status page (default 8080; 0 picks a free one)
  --host ADDR     the address the UDP kicks arrive on (default 127.0.0.1)
  --status-host ADDR
                  the status page's address (default 127.0.0.1: local, even with --host 0.0.0.0)
  --work-ms N     simulated work per row (default 0)
  -h, --help      print this help`,
);

function parseOptions(): Options & { demo: boolean } {
  const values = parseFlags(tool, {
    db: { type: "string" },
    types: { type: "string", default: "email,report" },
    "poll-ms": { type: "string", default: "60000" },
    "udp-port": { type: "string", default: "8001" },
    "http-port": { type: "string", default: "8080" },
    host: { type: "string", default: "127.0.0.1" },
    "status-host": { type: "string", default: "127.0.0.1" },
    "work-ms": { type: "string", default: "0" },
  });
  const types = values.types
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  if (types.length === 0) usageError(tool, "--types must name at least one type");
  return {
    db: values.db ?? DEFAULT_DB,
    demo: values.db === undefined,
    types,
    pollMs: intFlag(tool, "poll-ms", values["poll-ms"], 1),
    udpPort: intFlag(tool, "udp-port", values["udp-port"], 0, 65_535),
    httpPort: intFlag(tool, "http-port", values["http-port"], 0, 65_535),
    host: values.host,
    statusHost: values["status-host"],
    workMs: intFlag(tool, "work-ms", values["work-ms"], 0),
  };
}

/** Deletes a SQLite database and its WAL files. */
function removeDatabase(path: string): void {
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
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

const options = parseOptions();

await runTool(tool, function* () {
  yield* label("mq-kickstart");
  // registered first, so it runs last, once everything below is closed (and only after a
  // start: a usage error or a busy port prints its one line and nothing else)
  let started = false;
  yield* ensure(() => {
    if (started) console.log(`${stamp()} mq-kickstart stopped`);
  });
  if (options.demo) {
    // The demo database starts empty and leaves with the process, so a row that fails on
    // purpose (the README's "please fail") does not fail again at every later start.
    removeDatabase(options.db);
    yield* ensure(() => removeDatabase(options.db));
  }
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
      return error("not found", 404);
    },
  });

  const consumer = yield* spawn(function* () {
    yield* label("consumer");
    let running = false;
    const reasons = poll({
      intervalMs: options.pollMs,
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

  started = true;
  console.log(
    `${stamp()} mq-kickstart ready: status ${server.url}${routes.htmlPath} · udp ${udp.address.address}:${udp.address.port} · db ${options.db}${options.demo ? " (fresh demo database)" : ""} · types ${options.types.join(",")} · poll every ${options.pollMs} ms · pid ${process.pid}`,
  );
  yield* consumer;
});
