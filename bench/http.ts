/**
 * `npm run bench -- http`: bough/http against plain node:http, Hono on
 * @hono/node-server and fastify, each server in its own child process and the
 * load in another process (wrk, or this process for SSE/long-poll clients).
 *
 * 1. hello-world JSON req/s (wrk -t1 -c50), rounds alternating between servers
 * 2. RSS per idle SSE connection at 1,000 and 10,000 connections
 * 3. broadcast: hub messages to 1,000 SSE connections vs a hand-written res.write loop
 * 4. long-poll: 5,000 waiting /next clients, publish → last response, beside a
 *    bare node:net server writing one prebuilt response per socket (the floor)
 *
 * The same file is the server: `tsx bench/http.ts serve <kind>` (an IPC child).
 */
import { type ChildProcess, execFileSync, fork } from "node:child_process";
import { createServer, type ServerResponse } from "node:http";
import { connect, createServer as createNetServer, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import {
  action,
  createSignal,
  each,
  main,
  type Operation,
  type Stream,
  sleep,
  suspend,
} from "effection";
import { createRouter, json, longPoll, sse, useServer } from "../src/http/index.js";
import { useHub } from "../src/hub/index.js";
import { median, table, writeResults } from "./report.js";

const HELLO = { hello: "world" };
type Command =
  | { cmd: "rss" }
  | { cmd: "broadcast"; count: number }
  | { cmd: "publish" }
  | { cmd: "count" };

// ---------------------------------------------------------------- servers (child side)

function reply(message: unknown) {
  process.send?.(message);
}

function rss(): number {
  for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
}

/** A hub-like message, formatted the way bough's sse() formats hub messages by default. */
function message(seq: number) {
  return { id: String(seq), seq, value: { n: seq, text: "tick" }, time: Date.now() };
}

/** A stream with no resource behind it: each subscriber waits on one shared set of resolvers. */
const bareWaiters = new Set<() => void>();
const bare: Stream<number, never> = {
  *[Symbol.iterator]() {
    return {
      *next(): Operation<IteratorResult<number, never>> {
        yield* action<void>((resolve) => {
          bareWaiters.add(resolve);
          return () => bareWaiters.delete(resolve);
        });
        return { done: false, value: 1 };
      },
    };
  },
};

async function serve(kind: string) {
  // a server outlives nothing: when the bench process ends (finished, failed, or killed),
  // its IPC channel closes and the server exits with it
  process.once("disconnect", () => process.exit(0));
  if (kind === "node") {
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify(HELLO));
    });
    server.listen(0, "127.0.0.1", () =>
      reply({ port: (server.address() as { port: number }).port }),
    );
    return;
  }
  if (kind === "hono") {
    const { Hono } = await import("hono");
    const { serve: honoServe } = await import("@hono/node-server");
    const app = new Hono().get("/", (c) => c.json(HELLO));
    honoServe({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) =>
      reply({ port: info.port }),
    );
    return;
  }
  if (kind === "fastify") {
    const { default: Fastify } = await import("fastify");
    const app = Fastify({ logger: false });
    app.get("/", (_req, res) => {
      res.send(HELLO);
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    reply({ port: (app.server.address() as { port: number }).port });
    return;
  }
  if (kind === "net-floor") {
    // The floor for any Node server on this machine: no HTTP parser, no
    // response object, no framework; each waiting socket gets one prebuilt
    // response (the same headers and body), timed to its 'finish'.
    const waiting = new Set<Socket>();
    let seq = 0;
    process.once("SIGTERM", () => process.exit(0));
    const server = createNetServer((socket) => {
      let head = "";
      const onData = (chunk: Buffer) => {
        head += chunk.toString("latin1");
        if (!head.includes("\r\n\r\n")) return;
        socket.off("data", onData);
        waiting.add(socket);
      };
      socket.on("data", onData);
      socket.on("close", () => waiting.delete(socket));
      socket.on("error", () => {});
    });
    server.listen(0, "127.0.0.1", () =>
      reply({ port: (server.address() as { port: number }).port }),
    );
    process.on("message", (command: Command) => {
      if (command.cmd === "count") reply({ connections: waiting.size });
      else if (command.cmd === "publish") {
        const t0 = performance.now();
        const body = JSON.stringify(message(++seq));
        const response = Buffer.from(
          `HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
        let open = waiting.size;
        const finished = () => {
          if (--open === 0) reply({ ms: performance.now() - t0 });
        };
        for (const socket of waiting) {
          socket.once("finish", finished);
          socket.end(response);
        }
      }
    });
    return;
  }
  if (kind === "node-sse") {
    // the hand-written baseline: a list of responses and a res.write loop
    const clients = new Set<ServerResponse>();
    let seq = 0;
    // exit on stop() as bough's server does, so that BENCH_PROF's --cpu-prof writes this one too
    process.once("SIGTERM", () => process.exit(0));
    const server = createServer((req, res) => {
      if (req.url?.startsWith("/next")) {
        clients.add(res);
        res.on("close", () => clients.delete(res));
        return;
      }
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache, no-transform",
        "x-accel-buffering": "no",
        connection: "keep-alive",
      });
      res.flushHeaders();
      clients.add(res);
      res.on("close", () => clients.delete(res));
    });
    server.listen(0, "127.0.0.1", () =>
      reply({ port: (server.address() as { port: number }).port }),
    );
    process.on("message", (command: Command) => {
      if (command.cmd === "rss") reply({ rss: rss(), connections: clients.size });
      else if (command.cmd === "count") reply({ connections: clients.size });
      else if (command.cmd === "broadcast") {
        const t0 = performance.now();
        for (let i = 0; i < command.count; i++) {
          const m = message(++seq);
          const chunk = `id: ${m.id}\ndata: ${JSON.stringify(m)}\n\n`;
          for (const res of clients) res.write(chunk);
        }
        reply({ ms: performance.now() - t0 });
      } else if (command.cmd === "publish") {
        const t0 = performance.now();
        const body = JSON.stringify(message(++seq));
        let open = clients.size;
        const finished = () => {
          if (--open === 0) reply({ ms: performance.now() - t0 });
        };
        for (const res of clients) {
          res.once("finish", finished);
          res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
          res.end(body);
        }
      }
    });
    return;
  }
  // bough: hello router, SSE from a hub, long-poll on hub.next
  let written = 0;
  let whenWritten: { target: number; resolve: () => void } | undefined;
  const finished = () => {
    if (++written === whenWritten?.target) whenWritten.resolve();
  };
  await main(function* (): Operation<void> {
    const hub = yield* useHub<unknown>({ topic: "bench", history: 100, buffer: 1024 });
    const router = createRouter()
      .get("/", function* () {
        return json(HELLO);
      })
      .get("/events", function* (ctx) {
        return sse(hub.subscribe({ after: ctx.lastEventId }));
      })
      // the same SSE reply over a stream that is not a resource: what bough/http itself costs
      .get("/events-bare", function* () {
        return sse(bare);
      })
      .get("/next", function* (ctx) {
        // counted as the hand-written server counts its own: at the response's 'finish'
        ctx.response.once("finish", finished);
        return longPoll(hub.next(ctx.query.after), { timeoutMs: 120_000 });
      });
    const server = yield* useServer({ handler: router });
    const commands = createSignal<Command, never>();
    process.on("message", (command: Command) => commands.send(command));
    reply({ port: server.port });
    let seq = 0;
    for (const command of yield* each(commands)) {
      if (command.cmd === "rss") reply({ rss: rss(), connections: server.active });
      else if (command.cmd === "count") reply({ connections: hub.stats().subscribers });
      else if (command.cmd === "broadcast") {
        // server side: until every subscription has taken (and its stream written) every message
        const target = hub.stats().delivered + hub.stats().subscribers * command.count;
        const t0 = performance.now();
        for (let i = 0; i < command.count; i++) {
          const m = message(++seq);
          yield* hub.publish(m.value);
        }
        while (hub.stats().delivered < target) yield* sleep(0);
        reply({ ms: performance.now() - t0 });
      } else if (command.cmd === "publish") {
        // ms: until the last waiter's response is written ('finish'), as for the hand-written
        // server; idleMs: until a timer polling `active` sees every request's work ended, which
        // also counts the event loop closing the 5,000 sockets before its timer phase
        const target = written + server.active;
        let ms: number | undefined;
        let wake: (() => void) | undefined;
        const t0 = performance.now();
        whenWritten = {
          target,
          resolve: () => {
            ms = performance.now() - t0;
            wake?.();
          },
        };
        yield* hub.publish(message(++seq).value);
        while (server.active > 0) yield* sleep(0);
        const idleMs = performance.now() - t0;
        if (ms === undefined) {
          yield* action<void>((resolve) => {
            wake = resolve;
            return () => {};
          });
        }
        whenWritten = undefined;
        reply({ ms, idleMs });
      }
      yield* each.next();
    }
    yield* suspend();
  });
}

// ---------------------------------------------------------------- orchestration (parent side)

interface Child {
  process: ChildProcess;
  port: number;
  ask<T>(command: Command): Promise<T>;
  stop(): Promise<void>;
}

const here = fileURLToPath(import.meta.url);

function startServer(kind: string): Promise<Child> {
  return new Promise((resolve, reject) => {
    const child = fork(here, ["serve", kind], {
      execArgv: [
        "--expose-gc",
        "--import",
        "tsx",
        ...(process.env.BENCH_PROF
          ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROF}`]
          : []),
      ],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    child.once("error", reject);
    child.once("message", (m: { port: number }) => {
      resolve({
        process: child,
        port: m.port,
        ask<T>(command: Command) {
          return new Promise<T>((ok) => {
            child.once("message", (answer: T) => ok(answer));
            child.send(command);
          });
        },
        stop() {
          return new Promise<void>((done) => {
            child.once("exit", () => done());
            child.kill("SIGTERM");
          });
        },
      });
    });
  });
}

/** Fails before any server starts when `wrk` is missing, with what to install. */
function checkWrk(): void {
  try {
    execFileSync("wrk", ["--version"], { stdio: "ignore" });
  } catch (error) {
    // `wrk --version` exits 1 after printing its version; only a missing binary is fatal
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error("bench http needs wrk (Debian: apt-get install wrk)");
    }
  }
}

function wrk(port: number, seconds: number): number {
  const out = execFileSync("wrk", ["-t1", "-c50", `-d${seconds}s`, `http://127.0.0.1:${port}/`], {
    encoding: "utf8",
  });
  const match = out.match(/Requests\/sec:\s+([\d.]+)/);
  if (!match) throw new Error(`could not read wrk output:\n${out}`);
  return Number(match[1]);
}

async function hello() {
  checkWrk();
  const kinds = ["node", "bough", "hono", "fastify"];
  const rps: Record<string, number[]> = Object.fromEntries(kinds.map((k) => [k, []]));
  const servers: Record<string, Child> = {};
  for (const kind of kinds) servers[kind] = await startServer(kind);
  for (const kind of kinds) wrk(servers[kind].port, 1); // warm up the JIT
  const rounds = Number(process.env.ROUNDS ?? 6);
  for (let round = 0; round < rounds; round++) {
    // rotate the order so that no server always runs right after another
    for (let i = 0; i < kinds.length; i++) {
      const kind = kinds[(i + round) % kinds.length];
      rps[kind].push(wrk(servers[kind].port, 2));
    }
  }
  for (const kind of kinds) await servers[kind].stop();
  const result = Object.fromEntries(kinds.map((k) => [k, median(rps[k])]));
  return { rounds: rps, median: result };
}

/**
 * Opens `n` raw TCP connections that each send one GET and count SSE events
 * ("\n\n" terminators) as they arrive; no HTTP parser, so that the client
 * process costs as little as possible and the server is what gets measured.
 * For `/events` it resolves once every connection has its response headers.
 */
async function openMany(port: number, path: string, n: number, onEvents?: (count: number) => void) {
  const sockets: Socket[] = [];
  const responses: Promise<number>[] = [];
  const batch = 250;
  const streaming = path.startsWith("/events");
  for (let start = 0; start < n; start += batch) {
    const opened: Promise<void>[] = [];
    for (let i = start; i < Math.min(n, start + batch); i++) {
      let headers!: () => void;
      opened.push(new Promise<void>((r) => (headers = r)));
      responses.push(
        new Promise<number>((done) => {
          const socket = connect(port, "127.0.0.1", () => {
            socket.write(
              `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${streaming ? "" : "connection: close\r\n"}\r\n`,
            );
          });
          let seenHeaders = false;
          let lastWasNewline = false;
          socket.on("data", (chunk: Buffer) => {
            if (!seenHeaders) {
              seenHeaders = true;
              headers();
            }
            if (onEvents === undefined) return;
            let count = lastWasNewline && chunk[0] === 10 ? 1 : 0;
            for (let k = chunk.indexOf("\n\n"); k >= 0; k = chunk.indexOf("\n\n", k + 2)) count++;
            lastWasNewline = chunk[chunk.length - 1] === 10;
            if (count > 0) onEvents(count);
          });
          socket.on("end", () => done(performance.now()));
          socket.on("error", () => done(Number.NaN));
          sockets.push(socket);
        }),
      );
    }
    if (streaming) await Promise.all(opened);
  }
  return {
    responses,
    closeAll: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}

async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs = 60_000) {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function sseMemory(kind: "bough" | "node-sse", n: number, path = "/events") {
  const server = await startServer(kind);
  // warm the path with a few connections first, so that the baseline includes the code
  const warm = await openMany(server.port, path, 20);
  warm.closeAll();
  await new Promise((r) => setTimeout(r, 300));
  const before = await server.ask<{ rss: number }>({ cmd: "rss" });
  const clients = await openMany(server.port, path, n);
  await waitUntil(
    async () => (await server.ask<{ connections: number }>({ cmd: "rss" })).connections >= n,
  );
  const after = await server.ask<{ rss: number; connections: number }>({ cmd: "rss" });
  clients.closeAll();
  await server.stop();
  return { connections: n, bytesPerConnection: Math.round((after.rss - before.rss) / n) };
}

async function broadcast(kind: "bough" | "node-sse", n: number, messages: number) {
  const server = await startServer(kind);
  let total = 0;
  let finished!: () => void;
  let target = 0;
  const clients = await openMany(server.port, "/events", n, (count) => {
    total += count;
    if (target > 0 && total >= target) finished();
  });
  if (kind === "bough") {
    await waitUntil(
      async () => (await server.ask<{ connections: number }>({ cmd: "count" })).connections >= n,
    );
  }
  const times: number[] = [];
  const serverTimes: number[] = [];
  for (let round = 0; round < 5; round++) {
    const base = total;
    target = base + n * messages;
    const done = new Promise<void>((r) => (finished = r));
    const t0 = performance.now();
    serverTimes.push((await server.ask<{ ms: number }>({ cmd: "broadcast", count: messages })).ms);
    await done;
    times.push(performance.now() - t0);
  }
  clients.closeAll();
  await server.stop();
  const ms = median(times);
  const serverMs = median(serverTimes);
  return {
    connections: n,
    messages,
    ms,
    eventsPerSecond: Math.round((n * messages) / (ms / 1000)),
    serverMs,
    writesPerSecond: Math.round((n * messages) / (serverMs / 1000)),
  };
}

const POLL_KINDS = ["bough", "node-sse", "net-floor"] as const;
const POLL_LABELS: Record<PollKind, string> = {
  bough: "bough",
  "node-sse": "node:http (hand-written)",
  "net-floor": "node:net, one prebuilt response per socket (the floor)",
};
type PollKind = (typeof POLL_KINDS)[number];

/**
 * Long-poll wake for each server: all run at once and take their rounds in
 * turn (bough, hand-written, floor, bough, …), so that a change of load on the
 * shared cores falls on all alike. One round: `n` clients wait on /next, one message
 * is published, and the time to the last response is taken by the client and
 * by the server (its last response's 'finish').
 */
async function longPollWake(n: number, kinds: readonly PollKind[] = POLL_KINDS) {
  const servers = new Map<PollKind, Child>();
  for (const kind of kinds) servers.set(kind, await startServer(kind));
  const samples = new Map(
    kinds.map((kind) => [
      kind,
      { times: [] as number[], server: [] as number[], idle: [] as number[] },
    ]),
  );
  for (let round = 0; round < POLL_ROUNDS; round++) {
    for (const kind of kinds) {
      const server = servers.get(kind) as Child;
      const s = samples.get(kind) as { times: number[]; server: number[]; idle: number[] };
      const clients = await openMany(server.port, "/next", n);
      await waitUntil(
        async () => (await server.ask<{ connections: number }>({ cmd: "count" })).connections >= n,
      );
      const t0 = performance.now();
      const answered = server.ask<{ ms: number; idleMs?: number }>({ cmd: "publish" });
      const ends = await Promise.all(clients.responses);
      s.times.push(Math.max(...ends) - t0);
      const answer = await answered;
      s.server.push(answer.ms);
      if (answer.idleMs !== undefined) s.idle.push(answer.idleMs);
      clients.closeAll();
      await waitUntil(
        async () => (await server.ask<{ connections: number }>({ cmd: "count" })).connections === 0,
      );
    }
  }
  for (const server of servers.values()) await server.stop();
  return kinds.map((kind) => {
    const s = samples.get(kind) as { times: number[]; server: number[]; idle: number[] };
    return {
      kind: POLL_LABELS[kind],
      waiters: n,
      rounds: POLL_ROUNDS,
      msToLastResponse: Number(median(s.times).toFixed(1)),
      msToLastWrite: Number(median(s.server).toFixed(1)),
      ...(s.idle.length > 0 ? { msUntilIdle: Number(median(s.idle).toFixed(1)) } : {}),
    };
  });
}
const POLL_ROUNDS = Number(process.env.POLL_ROUNDS ?? 5);

/** Issue 19's goal for SSE memory, from the largest connection count measured. */
function memoryGoal(memory: { kind: string; connections: number; bytesPerConnection: number }[]) {
  const n = Math.max(...memory.map((m) => m.connections));
  const at = (kind: string) => memory.find((m) => m.connections === n && m.kind.startsWith(kind));
  const bough = at("bough, sse(hub");
  const node = at("node:http");
  if (!bough || !node) return "";
  const ratio = bough.bytesPerConnection / node.bytesPerConnection;
  const met = bough.bytesPerConnection <= 12_288 && ratio <= 1.3;
  return `Goal ≤ 12 KB (12,288 bytes) per idle connection at 10,000 connections and ≤ 1.3× hand-written: **${met ? "met" : "not met"}** at ${n.toLocaleString("en")}, ${bough.bytesPerConnection} bytes, ${ratio.toFixed(2)}× hand-written.`;
}

/** Issue 19's goal for long-poll: woken within 100 ms server-side, and no slower than hand-written. */
function pollGoal(polls: { kind: string; msToLastWrite: number }[]) {
  const [bough, node, floor] = polls;
  const met = bough.msToLastWrite < 100 && bough.msToLastWrite <= node.msToLastWrite;
  const floorText = floor
    ? ` A server with no HTTP machinery at all (node:net, one prebuilt response per socket) takes ${floor.msToLastWrite} ms in the same run: below that no Node server on this machine goes.`
    : "";
  return `Goal < 100 ms server-side with bough, and no slower than the hand-written server in the same run: **${met ? "met" : "not met"}** (${bough.msToLastWrite} ms against ${node.msToLastWrite} ms, ${(bough.msToLastWrite / node.msToLastWrite).toFixed(2)}×).${floorText}`;
}

async function bench() {
  const fast = process.env.QUICK === "1";
  const only = process.env.ONLY; // hello | memory | broadcast | poll: print one part, write nothing
  if (only) {
    const parts: Record<string, () => Promise<unknown>> = {
      hello,
      memory: async () => [await sseMemory("bough", 1000), await sseMemory("node-sse", 1000)],
      broadcast: async () => [
        await broadcast("bough", 1000, 100),
        await broadcast("node-sse", 1000, 100),
      ],
      poll: () => longPollWake(5000),
      "poll-bough": () => longPollWake(5000, ["bough"]),
    };
    console.log(JSON.stringify(await parts[only](), null, 1));
    return;
  }
  console.log("hello-world JSON (wrk -t1 -c50, 6 rounds of 2 s) …");
  const helloResult = await hello();
  const nodeRps = helloResult.median.node;
  console.log("SSE memory …");
  const memory = [];
  for (const n of fast ? [1000] : [1000, 10_000]) {
    memory.push({ kind: "bough, sse(hub.subscribe())", ...(await sseMemory("bough", n)) });
    memory.push({
      kind: "bough, sse(stream without a resource)",
      ...(await sseMemory("bough", n, "/events-bare")),
    });
    memory.push({ kind: "node:http (hand-written)", ...(await sseMemory("node-sse", n)) });
  }
  console.log("broadcast …");
  const casts = [
    { kind: "bough", ...(await broadcast("bough", 1000, 100)) },
    { kind: "node:http res.write loop", ...(await broadcast("node-sse", 1000, 100)) },
  ];
  console.log("long-poll …");
  // the bough server answers /next?after=latest by waiting for the next message
  const polls = await longPollWake(5000);

  const helloRows = Object.entries(helloResult.median).map(([kind, r]) => [
    kind,
    Math.round(r),
    (r / nodeRps).toFixed(2),
    helloResult.rounds[kind].map((x) => Math.round(x)).join(", "),
  ]);
  const castRatio = casts[0].eventsPerSecond / casts[1].eventsPerSecond;
  const writeRatio = casts[0].writesPerSecond / casts[1].writesPerSecond;
  const markdown = [
    "## Hello-world JSON, requests/s (median of rounds; wrk -t1 -c50 in its own process)",
    "",
    table(["server", "req/s", "× node:http", "rounds"], helloRows),
    "",
    `Goal ≥ 0.90× node:http: **${(helloResult.median.bough / nodeRps).toFixed(2)}×**; ahead of Hono: ${helloResult.median.bough > helloResult.median.hono ? "yes" : "no"}; ahead of fastify: ${helloResult.median.bough > helloResult.median.fastify ? "yes" : "no"}.`,
    "",
    "## RSS per idle SSE connection (server process, after GC)",
    "",
    table(
      ["server", "connections", "bytes / connection"],
      memory.map((m) => [m.kind, m.connections, m.bytesPerConnection]),
    ),
    "",
    memoryGoal(memory),
    "",
    "The first bough row streams a hub subscription, which `sse()` opens through `openLease` (no resource task or scope); the second is the same `sse()` over the bench's own plain stream (effection `action()` closures of its own, about 1.2 KB a connection). An idle subscription's queue gets its 16 slots at the first message, so it has none. At 1,000 connections the first ones grow V8's new space by a fixed ~7 MB (about 7 KB a connection there, nothing at 10,000): judge the 10,000 rows.",
    "",
    "## Broadcast: 100 messages to 1,000 SSE connections (median of 5)",
    "",
    "Events/s: until every client has received every event (clients: raw sockets in the bench process).",
    "Writes/s: in the server, until every event is handed to its socket (hub `delivered` for bough, the loop for node:http).",
    "",
    table(
      ["server", "ms (clients)", "events/s", "ms (server)", "writes/s"],
      casts.map((c) => [
        c.kind,
        c.ms.toFixed(1),
        c.eventsPerSecond,
        c.serverMs.toFixed(1),
        c.writesPerSecond,
      ]),
    ),
    "",
    `Goal ≥ 0.90× the hand-written loop: **${castRatio.toFixed(2)}×** events/s, **${writeRatio.toFixed(2)}×** writes/s.`,
    "",
    `## Long-poll: 5,000 waiting /next clients, publish → last response (median of ${POLL_ROUNDS} rounds, servers in turn)`,
    "",
    table(
      [
        "server",
        "waiters",
        "ms to last response (client)",
        "ms to last response written (server)",
        "ms until the server is idle",
      ],
      polls.map((p) => [
        p.kind,
        p.waiters,
        p.msToLastResponse,
        p.msToLastWrite,
        "msUntilIdle" in p ? (p.msUntilIdle as number) : "—",
      ]),
    ),
    "",
    "Every server is timed to the last response's `finish` event. The last column (bough only) is the old figure: polling the server's open requests with `sleep(0)`, whose timer fires only after the event loop has also closed the 5,000 sockets.",
    "",
    pollGoal(polls),
  ].join("\n");
  writeResults("http", { hello: helloResult, memory, broadcast: casts, longPoll: polls }, markdown);
}

if (process.argv[2] === "serve") {
  await serve(process.argv[3]);
} else {
  await bench();
}
