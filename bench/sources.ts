/**
 * `npm run bench -- sources`
 *
 * 1. Real-clock drift: 1,000 ticks at 10 ms from bough's `ticker`, a plain
 *    `setInterval` and effection's `interval()`, one after the other. Each tick
 *    is timed in the consumer (`performance.now()`) against the ideal grid
 *    `t0 + n · 10 ms`: lateness = when it arrived − when it was due.
 * 2. UDP, 64-byte datagrams from 8 sender sockets in a child process into one
 *    consumer: a bare `node:dgram` `on("message")` listener, a `useUdpSocket`
 *    read with `subscription.next()`, and one read with `each()`. First each
 *    consumer's capacity under a flood (datagrams/s received), then the highest
 *    paced rate it takes with zero loss, on a ladder of rates, the consumers
 *    taking turns at every step.
 *
 * BENCH_SOURCES=drift,flood,ladder (the default) picks the parts to run; the
 * results of a partial run miss the others.
 */
import { type ChildProcess, fork } from "node:child_process";
import { createSocket } from "node:dgram";
import { writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import {
  each,
  ensure,
  interval,
  main,
  type Operation,
  scoped,
  sleep,
  spawn,
  until,
} from "effection";
import { ticker } from "../src/sources/ticker.js";
import { useUdpSocket } from "../src/sources/udp-socket.js";
import { median, table, writeResults } from "./report.js";

const TICKS = 1_000;
const PERIOD = 10;

interface DriftResult {
  name: string;
  meanMs: number;
  p99Ms: number;
  maxMs: number;
  /** Lateness of the last tick: how far behind the grid the schedule ended. */
  finalMs: number;
  /** Median lateness of the last 100 ticks minus that of the first 100. */
  trendMs: number;
}

function summarize(name: string, t0: number, arrivals: number[]): DriftResult {
  const late = arrivals.map((t, i) => t - (t0 + (i + 1) * PERIOD));
  const sorted = [...late].sort((a, b) => a - b);
  return {
    name,
    meanMs: late.reduce((a, b) => a + b, 0) / late.length,
    p99Ms: sorted[Math.floor(sorted.length * 0.99)],
    maxMs: sorted[sorted.length - 1],
    finalMs: late[late.length - 1],
    trendMs: median(late.slice(-100)) - median(late.slice(0, 100)),
  };
}

function* driftTicker(): Operation<DriftResult> {
  const arrivals: number[] = [];
  const t0 = performance.now();
  // "burst", so that a stalled event loop makes ticks late rather than dropped,
  // as it does for the two others
  const ticks = yield* ticker({ intervalMs: PERIOD, missed: "burst", maxBurst: TICKS });
  while (arrivals.length < TICKS) {
    yield* ticks.next();
    arrivals.push(performance.now());
  }
  return summarize("bough ticker", t0, arrivals);
}

function driftSetInterval(): Promise<DriftResult> {
  return new Promise((resolve) => {
    const arrivals: number[] = [];
    const t0 = performance.now();
    const id = setInterval(() => {
      arrivals.push(performance.now());
      if (arrivals.length === TICKS) {
        clearInterval(id);
        resolve(summarize("setInterval", t0, arrivals));
      }
    }, PERIOD);
  });
}

function* driftEffectionInterval(): Operation<DriftResult> {
  const arrivals: number[] = [];
  const t0 = performance.now();
  for (const _ of yield* each(interval(PERIOD))) {
    arrivals.push(performance.now());
    if (arrivals.length === TICKS) break;
    yield* each.next();
  }
  return summarize("effection interval()", t0, arrivals);
}

// ---------------------------------------------------------------- UDP

const SENDERS = 8;
const TRIAL_MS = 600;
const ROUNDS = 3;
/**
 * The kernel receive buffer of every consumer in the ladder: this machine's
 * `net.core.rmem_max`, so that a few ms of being descheduled on a shared
 * 2-core machine does not decide the result (the default, 208 KiB, holds
 * about 250 small datagrams).
 */
const RCVBUF = 4 * 1024 * 1024;
/** The flood: the sender's best effort at this rate, to measure each consumer's capacity. */
const FLOOD_RATE = 400_000;
const FLOOD_MS = 800;
/** Steps of 1.5×. */
const RATES = [20_000, 30_000, 45_000, 67_000, 100_000, 150_000, 225_000];

/** The sender child: paces `rate` datagrams/s over SENDERS sockets for `ms`. */
const SENDER_SOURCE = `
const dgram = require("node:dgram");
const sockets = [];
let ready = 0;
for (let i = 0; i < ${SENDERS}; i++) {
  const s = dgram.createSocket("udp4");
  s.bind(0, "127.0.0.1", () => { if (++ready === ${SENDERS}) process.send({ ready: true }); });
  sockets.push(s);
}
process.on("message", ({ rate, ms, port, stop }) => {
  if (stop) { for (const s of sockets) s.close(); process.disconnect(); return; }
  const payload = Buffer.alloc(64);
  const t0 = performance.now();
  const total = Math.round((rate * ms) / 1000);
  let sent = 0;
  const step = () => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000));
    while (sent < due) {
      const i = sent % ${SENDERS};
      payload.writeUInt32BE(sent, 0);
      sockets[i].send(payload, port, "127.0.0.1");
      sent++;
    }
    if (sent < total) setImmediate(step);
    else process.send({ sent, elapsedMs: performance.now() - t0 });
  };
  step();
});
`;

interface Trial {
  rate: number;
  sent: number;
  received: number;
  sendRate: number;
  /** Datagrams per second received between the first and the last one. */
  receiveRate: number;
  /** CPU time (user + system) of this process per datagram received, in µs. */
  cpuUs: number;
}

/** The consumers compared: a bare socket, and bough's with and without `each()`. */
const CONSUMERS = ["bare node:dgram", "bough next()", "bough each()"] as const;
type Consumer = (typeof CONSUMERS)[number];

function startSender(): Promise<ChildProcess> {
  const file = join(tmpdir(), `bough-bench-udp-sender-${process.pid}.cjs`);
  writeFileSync(file, SENDER_SOURCE);
  const child = fork(file, [], { stdio: "inherit", execArgv: [] });
  return new Promise((resolve) => child.once("message", () => resolve(child)));
}

function drive(child: ChildProcess, rate: number, ms: number, port: number) {
  return new Promise<{ sent: number; elapsedMs: number }>((resolve) => {
    child.once("message", (m) => resolve(m as { sent: number; elapsedMs: number }));
    child.send({ rate, ms, port });
  });
}

/** One trial of one consumer; every consumer touches each payload. */
function* trial(
  child: ChildProcess,
  consumer: Consumer,
  rate: number,
  ms = TRIAL_MS,
): Operation<Trial> {
  let received = 0;
  let bytes = 0;
  let first = 0;
  let last = 0;
  const count = (data: Buffer) => {
    if (received++ === 0) first = performance.now();
    last = performance.now();
    bytes += data.length;
  };
  let port: number;
  if (consumer === "bare node:dgram") {
    const socket = createSocket("udp4");
    socket.on("message", count);
    yield* until(new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r())));
    socket.setRecvBufferSize(RCVBUF);
    port = socket.address().port;
    yield* ensure(() => until(new Promise<void>((r) => socket.close(() => r()))));
  } else {
    const udp = yield* useUdpSocket({ host: "127.0.0.1", recvBufferSize: RCVBUF });
    port = udp.address.port;
    yield* spawn(function* () {
      if (consumer === "bough each()") {
        for (const datagram of yield* each(udp.messages)) {
          count(datagram.data);
          yield* each.next();
        }
      } else {
        const messages = yield* udp.messages;
        for (;;) count((yield* messages.next()).value.data);
      }
    });
    yield* sleep(0);
  }
  const cpu0 = process.cpuUsage();
  const { sent, elapsedMs } = yield* until(drive(child, rate, ms, port));
  // let the consumer drain what is still queued: wait for 100 ms without a datagram
  const t = performance.now();
  while (performance.now() - Math.max(last, t) < 100) yield* sleep(20);
  if (bytes !== received * 64) throw new Error(`${consumer}: short datagrams`);
  const cpu = process.cpuUsage(cpu0);
  const receiveRate = received > 1 ? ((received - 1) * 1000) / (last - first) : 0;
  const cpuUs = (cpu.user + cpu.system) / received;
  return { rate, sent, received, sendRate: (sent * 1000) / elapsedMs, receiveRate, cpuUs };
}

function maxZeroLoss(trials: Trial[]): number {
  let best = 0;
  for (const t of trials) {
    if (t.received < t.sent) break;
    best = t.rate;
  }
  return best;
}

type UdpRound = Record<Consumer, number>;

/**
 * Climbs the ladder of rates; at each step every consumer still without loss
 * gets one trial, in an order that rotates from step to step.
 */
function* udpRound(child: ChildProcess, round: number, log: Record<Consumer, Trial[]>) {
  const trials = Object.fromEntries(CONSUMERS.map((c) => [c, [] as Trial[]])) as Record<
    Consumer,
    Trial[]
  >;
  for (const [step, rate] of RATES.entries()) {
    const alive = CONSUMERS.filter((c) => maxZeroLoss(trials[c]) === (RATES[step - 1] ?? 0));
    if (alive.length === 0) break;
    const shift = (step + round) % alive.length;
    const line: string[] = [];
    for (const consumer of [...alive.slice(shift), ...alive.slice(0, shift)]) {
      // a scope of its own, so that the socket is closed before the next trial
      const t = yield* scoped(() => trial(child, consumer, rate));
      trials[consumer].push(t);
      line.push(`${consumer} ${t.received}/${t.sent}`);
    }
    console.log(`  ${rate}/s: ${line.join(", ")}`);
  }
  for (const c of CONSUMERS) log[c].push(...trials[c]);
  return Object.fromEntries(CONSUMERS.map((c) => [c, maxZeroLoss(trials[c])])) as UdpRound;
}

const parts = (process.env.BENCH_SOURCES ?? "drift,flood,ladder").split(",");

await main(function* () {
  const loadBefore = loadavg()[0];
  const drift: DriftResult[] = [];
  if (parts.includes("drift")) {
    console.log(`drift: ${TICKS} ticks at ${PERIOD} ms, three sources one after the other…`);
    drift.push(yield* driftTicker());
    drift.push(yield* until(driftSetInterval()));
    drift.push(yield* driftEffectionInterval());
    for (const d of drift) console.log(d);
  }

  const log = Object.fromEntries(CONSUMERS.map((c) => [c, [] as Trial[]])) as Record<
    Consumer,
    Trial[]
  >;
  const rounds: UdpRound[] = [];
  const floods: Record<Consumer, Trial[]> = Object.fromEntries(
    CONSUMERS.map((c) => [c, [] as Trial[]]),
  ) as Record<Consumer, Trial[]>;
  if (parts.includes("flood") || parts.includes("ladder")) {
    const child = yield* until(startSender());
    try {
      console.log(`udp capacity: a flood of up to ${FLOOD_RATE}/s for ${FLOOD_MS} ms…`);
      for (let round = 0; parts.includes("flood") && round < ROUNDS; round++) {
        const line: string[] = [];
        for (let i = 0; i < CONSUMERS.length; i++) {
          const consumer = CONSUMERS[(i + round) % CONSUMERS.length];
          const t = yield* scoped(() => trial(child, consumer, FLOOD_RATE, FLOOD_MS));
          floods[consumer].push(t);
          line.push(
            `${consumer} ${Math.round(t.receiveRate)}/s of ${Math.round(t.sendRate)}/s, ${t.cpuUs.toFixed(2)} µs cpu`,
          );
        }
        console.log(`  ${line.join(", ")}`);
      }
      console.log(`udp zero-loss ladder: ${SENDERS} senders, ${TRIAL_MS} ms per step…`);
      for (let round = 0; parts.includes("ladder") && round < ROUNDS; round++) {
        rounds.push(yield* udpRound(child, round, log));
      }
    } finally {
      child.send({ stop: true });
    }
  }
  const best = Object.fromEntries(
    CONSUMERS.map((c) => [c, median(rounds.map((r) => r[c]))]),
  ) as UdpRound;
  const bareRate = best["bare node:dgram"];
  const capacity = Object.fromEntries(
    CONSUMERS.map((c) => [c, Math.round(median(floods[c].map((t) => t.receiveRate)))]),
  ) as UdpRound;
  const cpuUs = Object.fromEntries(
    CONSUMERS.map((c) => [c, median(floods[c].map((t) => t.cpuUs))]),
  ) as UdpRound;
  const floodSendRate = Math.round(
    median(
      Object.values(floods)
        .flat()
        .map((t) => t.sendRate),
    ),
  );

  const load = { before: loadBefore, after: loadavg()[0] };
  /** A rate at the top of the ladder is only a lower bound. */
  const atLeast = (rate: number) => (rate === RATES[RATES.length - 1] ? `≥ ${rate}` : rate);
  const fmt = (n: number) => n.toFixed(3);
  const markdown = [
    `Load average (1 min) of this shared machine: ${load.before.toFixed(1)} at the start, ${load.after.toFixed(1)} at the end; other work on it makes the figures noisy, the UDP ones most.`,
    "",
    `## Real-clock drift: ${TICKS} ticks at ${PERIOD} ms`,
    "",
    "Lateness of each tick against the ideal grid `t0 + n · 10 ms`, timed in the consumer. `final` is the last tick's lateness (the cumulative drift after 1,000 ticks); `trend` is the median lateness of the last 100 ticks minus that of the first 100.",
    "",
    table(
      ["source", "mean (ms)", "p99 (ms)", "max (ms)", "final (ms)", "trend (ms)"],
      drift.map((d) => [
        d.name,
        fmt(d.meanMs),
        fmt(d.p99Ms),
        fmt(d.maxMs),
        fmt(d.finalMs),
        fmt(d.trendMs),
      ]),
    ),
    "",
    `## UDP: ${SENDERS} sender sockets × 64-byte datagrams into one consumer`,
    "",
    "Consumers: a bare `node:dgram` socket with an `on(\"message\")` listener; bough's `useUdpSocket` read with `subscription.next()` in a loop; and the same read with effection's `for … of each(udp.messages)`. Every consumer counts each datagram and its bytes. The senders run in a child process.",
    "",
    `### Capacity under a flood (sender at ${floodSendRate}/s, ${FLOOD_MS} ms)`,
    "",
    "CPU time of the receiving process per datagram is the figure that other load on the machine disturbs least; the received rate is what the consumer got through while competing for the CPU.",
    "",
    table(
      ["consumer", "CPU µs / datagram", "implied capacity /s", "× bare", "received /s", "× bare"],
      CONSUMERS.map((c) => [
        c,
        cpuUs[c].toFixed(2),
        Math.round(1e6 / cpuUs[c]),
        (cpuUs["bare node:dgram"] / cpuUs[c]).toFixed(2),
        capacity[c],
        (capacity[c] / capacity["bare node:dgram"]).toFixed(2),
      ]),
    ),
    "",
    "(medians of 3 floods per consumer)",
    "",
    "### Highest zero-loss rate",
    "",
    `A ladder of paced rates (${RATES.join(", ")} /s), ${TRIAL_MS} ms per step. At each step every consumer still without loss gets one trial (order rotating); a consumer's rate is the last step before its first lost datagram. Kernel receive buffer ${RCVBUF / 1024 / 1024} MiB (this machine's rmem_max) for all three, so that a few ms of scheduling noise on a shared 2-core machine does not decide the result. ${ROUNDS} rounds and their median.`,
    "",
    table(
      ["round", ...CONSUMERS.map((c) => `${c} (/s)`)],
      [
        ...rounds.map((r, i) => [i + 1, ...CONSUMERS.map((c) => atLeast(r[c]))]),
        ["median", ...CONSUMERS.map((c) => atLeast(best[c]))],
        ["× bare", ...CONSUMERS.map((c) => (best[c] / bareRate).toFixed(2))],
      ],
    ),
    "",
    `Goal: bough at least 0.9× the bare rate. ${CONSUMERS.filter((c) => c !== "bare node:dgram")
      .map((c) => {
        const ratio = best[c] / bareRate;
        return `${c}: ${ratio >= 0.9 ? "**met**" : "**not met**"} (${ratio.toFixed(2)}×)`;
      })
      .join("; ")}.`,
  ].join("\n");
  writeResults(
    "sources",
    {
      load,
      drift,
      udp: {
        senders: SENDERS,
        rcvbuf: RCVBUF,
        capacity,
        cpuUs,
        floods,
        trialMs: TRIAL_MS,
        rates: RATES,
        rounds,
        best,
        trials: log,
      },
    },
    markdown,
  );
});
