/**
 * bench http-paused: what a client that stops reading an NDJSON or SSE stream
 * costs the server, against the per-connection cap (default 1 MiB). The server
 * runs in a child process that streams as fast as it can (ASCII items, and
 * items of non-ASCII text, which take more bytes than characters); the bench
 * opens N connections that never read, waits until every writer is held at its
 * cap, and asks the server for its memory after GC (heap + external, which
 * includes array buffers, and RSS) against a baseline taken before the clients
 * came.
 *
 * Run: `npm run bench -- http-paused` (writes bench/results/http-paused.{json,md}).
 * `PAUSED_N` changes the number of clients per case (default 20).
 */
import { type ChildProcess, fork } from "node:child_process";
import type { ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { type Operation, run, type Stream, suspend } from "effection";
import {
  createRouter,
  DEFAULT_MAX_BUFFERED_BYTES,
  ndjson,
  sse,
  useServer,
} from "../src/http/index.js";
import { table, writeResults } from "./report.js";

const N = Number(process.env.PAUSED_N ?? 20);
const CAP = DEFAULT_MAX_BUFFERED_BYTES;

type Kind = "ndjson" | "sse";
type Text = "ascii" | "non-ascii";

/** Always has another item ready: 16 KiB of ASCII, or 8 Ki "€" (24 KiB of UTF-8), each a new string. */
function firehose(text: Text): Stream<string, never> {
  return {
    *[Symbol.iterator]() {
      let n = 0;
      return {
        *next(): Operation<IteratorResult<string, never>> {
          const body = text === "ascii" ? "x".repeat(16 * 1024) : "€".repeat(8 * 1024);
          return { done: false, value: `${n++}${body}` };
        },
      };
    },
  };
}

interface Report {
  heap: number;
  external: number;
  rss: number;
  held: number[];
}

/** The server side: a child process serving /ndjson/ascii, /sse/non-ascii, … and answering "measure". */
function serve(): void {
  const responses = new Set<ServerResponse>();
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --expose-gc");
  run(function* () {
    const router = createRouter();
    for (const kind of ["ndjson", "sse"] as const) {
      for (const text of ["ascii", "non-ascii"] as const) {
        router.get(`/${kind}/${text}`, function* (ctx) {
          const response = ctx.response;
          responses.add(response);
          response.once("close", () => responses.delete(response));
          return kind === "sse"
            ? sse(firehose(text), { heartbeatMs: 0 })
            : ndjson(firehose(text), { heartbeatMs: 0 });
        });
      }
    }
    const server = yield* useServer({ port: 0, handler: router });
    process.send?.({ type: "listening", port: server.port });
    process.on("message", (message: { type: string }) => {
      if (message.type !== "measure") return;
      gc();
      gc();
      const m = process.memoryUsage();
      const report: Report = {
        heap: m.heapUsed,
        external: m.external,
        rss: m.rss,
        held: [...responses].map((r) => r.writableLength),
      };
      process.send?.(report);
    });
    yield* suspend();
  });
}

function request(child: ChildProcess, message: object): Promise<any> {
  return new Promise((resolve) => {
    child.once("message", resolve);
    child.send(message);
  });
}

/** Opens a connection that sends a GET and never reads. */
function pausedClient(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.pause();
      socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
      resolve(socket);
    });
    socket.on("error", reject);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(kind: Kind, text: Text) {
  // a fresh server per case, so that one case's garbage does not count in the next
  const child = fork(fileURLToPath(import.meta.url), ["--serve"], {
    execArgv: ["--expose-gc", "--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  try {
    const { port } = await new Promise<{ port: number }>((resolve) =>
      child.once("message", resolve),
    );
    const path = `/${kind}/${text}`;
    // warm the code paths with one client that reads a little and leaves
    const warm = await pausedClient(port, path);
    warm.resume();
    await sleep(300);
    warm.destroy();
    await sleep(300);
    const before: Report = await request(child, { type: "measure" });
    const sockets: Socket[] = [];
    for (let i = 0; i < N; i++) sockets.push(await pausedClient(port, path));
    // wait until every writer holds about a cap's worth (one more item would go over it)
    let report: Report = before;
    const started = Date.now();
    for (;;) {
      report = await request(child, { type: "measure" });
      const full = report.held.filter((b) => b + 25 * 1024 > CAP).length;
      if (full >= N || Date.now() - started > 60_000) break;
      await sleep(200);
    }
    report = await request(child, { type: "measure" });
    for (const socket of sockets) socket.destroy();
    const perClient = (after: number, base: number) => (after - base) / N;
    const memory = perClient(report.heap + report.external, before.heap + before.external);
    return {
      kind,
      text,
      clients: N,
      capBytes: CAP,
      heldAtCap: report.held.filter((b) => b + 25 * 1024 > CAP).length,
      maxBufferedBytes: Math.max(...report.held),
      memoryPerClientBytes: Math.round(memory),
      rssPerClientBytes: Math.round(perClient(report.rss, before.rss)),
      ratioToCap: Number((memory / CAP).toFixed(2)),
    };
  } finally {
    child.kill();
  }
}

if (process.argv.includes("--serve")) {
  serve();
} else {
  const loadBefore = loadavg().map((l) => Number(l.toFixed(2)));
  const cases = [];
  for (const kind of ["ndjson", "sse"] as const) {
    for (const text of ["ascii", "non-ascii"] as const) cases.push(await measure(kind, text));
  }
  const loadAfter = loadavg().map((l) => Number(l.toFixed(2)));
  const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
  const worst = Math.max(...cases.map((c) => c.ratioToCap));
  const goalMet = worst <= 1.5 && cases.every((c) => c.heldAtCap === c.clients);
  const md = [
    "## Paused clients: memory per client that stops reading, against the per-connection cap",
    "",
    `Server in its own process; ${N} clients per case that send a GET and never read; measured once every writer is held at the cap (${kib(CAP)}, the default), after GC. Memory is the server's heap + external (array buffers included), minus a baseline taken before the clients came, divided by the clients. The kernel's socket buffers (not process memory) fill first.`,
    "",
    `Load average (1, 5, 15 min) before: ${loadBefore.join(", ")}; after: ${loadAfter.join(", ")}.`,
    "",
    table(
      [
        "stream",
        "text",
        "clients held at the cap",
        "largest buffer",
        "memory per client",
        "× cap",
        "RSS per client",
      ],
      cases.map((c) => [
        c.kind,
        c.text === "ascii" ? "ASCII (16 KiB items)" : "non-ASCII (8 Ki × €, 24 KiB of UTF-8)",
        `${c.heldAtCap} / ${c.clients}`,
        kib(c.maxBufferedBytes),
        kib(c.memoryPerClientBytes),
        c.ratioToCap,
        kib(c.rssPerClientBytes),
      ]),
    ),
    "",
    `Goal (issue 16): at most 1.5 × the cap, every client held at it: ${goalMet ? "**met**" : "**not met**"} (highest ${worst.toFixed(2)} × the cap). Before the fix a paused client cost 4.0–4.3 MiB for a 1 MiB cap, and with non-ASCII text 2.8 MiB of UTF-8 sat behind it.`,
  ].join("\n");
  writeResults("http-paused", { loadavg: { before: loadBefore, after: loadAfter }, cases }, md);
}
