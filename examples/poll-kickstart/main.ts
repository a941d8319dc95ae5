/**
 * Seed 001's poll + kick-start pattern: a consumer drains a message queue when
 * a slow timer says so, or at once when a UDP datagram kicks it. Whoever
 * inserts into the queue sends the kick; if a kick is lost, the timer still
 * picks the message up. A second source prints a heartbeat on a drift-free
 * ticker.
 *
 *   npx tsx examples/poll-kickstart/main.ts [--seconds 5] [--port 0] (--help)
 */
import { each, ensure, type Operation, spawn } from "effection";
import { delay } from "../../src/index.js";
import { poll, ticker, useUdpSocket } from "../../src/sources/index.js";
import { defineTool, intFlag, parseFlags, runTool } from "../cli.js";

const tool = defineTool(
  import.meta.url,
  `usage: npx tsx examples/poll-kickstart/main.ts [--seconds N] [--port N]

A consumer polled every 1.5 s or kicked at once by a UDP datagram, a heartbeat, and a producer
that forgets every third kick; stops after N seconds.

  --seconds N   how long to run (default 5)
  --port N      the UDP port for kicks (default 0: a free one)
  -h, --help    print this help`,
);
const values = parseFlags(tool, {
  seconds: { type: "string", default: "5" },
  port: { type: "string", default: "0" },
});
const seconds = intFlag(tool, "seconds", values.seconds, 0);
const port = intFlag(tool, "port", values.port, 0, 65_535);
const t0 = performance.now();
const log = (message: string) =>
  console.log(`${String(Math.round(performance.now() - t0)).padStart(5)} ms  ${message}`);

/** Stands in for the MessageQueue table of the seed: rows removed oldest first. */
const messageQueue: { id: number; type: string; data: string }[] = [];

function* drain(reason: string): Operation<void> {
  let done = 0;
  while (messageQueue.length > 0) {
    const row = messageQueue.shift()!;
    yield* delay(20); // the work for one row
    done++;
    log(`  processed #${row.id} (${row.type}: ${row.data})`);
  }
  log(`run on ${reason}: ${done} row(s)`);
}

await runTool(tool, function* () {
  yield* ensure(() => log("stopped: socket closed, timers cleared"));
  const udp = yield* useUdpSocket({ port, host: "127.0.0.1" });
  log(`listening for kicks on udp://127.0.0.1:${udp.address.port} (pid ${process.pid})`);

  // the consumer: poll every 1.5 s, or at once on a datagram
  yield* spawn(function* () {
    for (const reason of yield* each(poll({ intervalMs: 1_500, kick: udp.messages }))) {
      yield* drain(reason);
      yield* each.next();
    }
  });

  // a heartbeat on a drift-free grid
  yield* spawn(function* () {
    for (const tick of yield* each(ticker({ intervalMs: 1_000 }))) {
      log(`heartbeat ${tick.n} (${(tick.firedAt - tick.scheduledAt).toFixed(1)} ms late)`);
      yield* each.next();
    }
  });

  // a producer: inserts rows and kicks the consumer, forgetting the kick every third time
  const kicker = yield* useUdpSocket({ host: "127.0.0.1" });
  let id = 0;
  const end = performance.now() + seconds * 1_000;
  let pause = 700;
  while (performance.now() + pause < end) {
    yield* delay(pause);
    const row = { id: ++id, type: "email", data: `to user ${id}` };
    messageQueue.push(row);
    if (id % 3 === 0) {
      log(`inserted #${row.id}, no kick (the timer will find it)`);
      pause = 1_600;
    } else {
      log(`inserted #${row.id}, kick`);
      yield* kicker.send("kick", udp.address.port, "127.0.0.1");
      pause = 700;
    }
  }
  yield* delay(Math.max(0, end - performance.now()));
});
