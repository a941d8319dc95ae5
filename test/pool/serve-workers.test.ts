import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { run, scoped, spawn, until } from "effection";
import { afterAll, describe, expect, it, vi } from "vitest";
import { TimeoutError } from "../../src/core/errors.js";
import {
  createDeferredLog,
  ProtocolError,
  ServerRefusedError,
  serveWorkers,
  TaskError,
  usePool,
  WorkerCrashedError,
  WorkerResourceLimitError,
} from "../../src/pool/index.js";
import { isAlive, realWorkerTests } from "../helpers/real-workers.js";
import { settle } from "../helpers/settle.js";
import type echoWorker from "./fixtures/echo-worker.js";
import { eventually, echoWorkerFile as worker } from "./helpers.js";

realWorkerTests();

type Echo = typeof echoWorker;

const dir = mkdtempSync(join(tmpdir(), "bough-serve-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed certificate for 127.0.0.1, made with the openssl program. */
function selfSigned(name: string): { key: Buffer; cert: Buffer } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=bough-test",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { stdio: "ignore" },
  );
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

/** Opens a connection that says nothing; resolves with what the server sent once it closes. */
function silent(path: string): { connected: Promise<void>; closed: Promise<string> } {
  const socket = connect({ path });
  let received = "";
  socket.on("data", (chunk) => {
    received += chunk.toString();
  });
  socket.on("error", () => {});
  return {
    connected: new Promise((resolve) => socket.once("connect", () => resolve())),
    closed: new Promise((resolve) => socket.once("close", () => resolve(received))),
  };
}

/** Sends raw bytes on a new connection and resolves when the server closes it. */
function sendRaw(path: string, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    let received = "";
    socket.on("data", (chunk) => {
      received += chunk.toString();
    });
    socket.on("connect", () => socket.write(bytes));
    socket.on("error", reject);
    socket.on("close", () => resolve(received));
  });
}

describe("serveWorkers", () => {
  it("serves a remote pool over a unix socket", async () => {
    const path = join(dir, "a.sock");
    const result = await run(function* () {
      yield* serveWorkers({ listen: { path }, worker });
      const pool = yield* usePool<Echo>({ connect: { path }, maxWorkers: 2 });
      const logger = createDeferredLog();
      const checkout = yield* pool.checkout({ logger });
      const n = yield* checkout.call("inc", 1);
      const state = [yield* checkout.call("push", "x"), yield* checkout.call("push", "y")];
      yield* checkout.call("logs", 3);
      return { n, state, logged: logger.toJSON() };
    });
    expect(result.n).toBe(2);
    expect(result.state).toEqual([1, 2]);
    expect(result.logged.logs.map((entry) => entry.slice(2))).toEqual([["working on", 3]]);
    expect(result.logged.data).toEqual({ n: 3 });
  });

  it("gives each connection its own worker process, reaped when the server stops", async () => {
    const path = join(dir, "p.sock");
    const pids = await run(function* () {
      yield* serveWorkers({ listen: { path }, worker });
      const pool = yield* usePool<Echo>({ connect: { path }, maxWorkers: 2 });
      const a = yield* pool.checkout();
      const b = yield* pool.checkout();
      return [(yield* a.call("whoami")).pid, (yield* b.call("whoami")).pid];
    });
    expect(pids[0]).not.toBe(pids[1]);
    expect(pids.some((pid) => pid === process.pid)).toBe(false);
    expect(pids.some(isAlive)).toBe(false);
  });

  it("titles a client's worker process with the client's name from its hello frame", async () => {
    const path = join(dir, "named.sock");
    await run(function* () {
      yield* serveWorkers({ listen: { path }, worker });
      const pool = yield* usePool<Echo>({ connect: { path }, name: "report builder" });
      const { pid } = yield* pool.run("whoami");
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      expect(argv[0]).toBe("bough-worker:report builder");
    });
  });

  it("relays frames to worker threads with transport: thread", async () => {
    const path = join(dir, "t.sock");
    const who = await run(function* () {
      yield* serveWorkers({ listen: { path }, worker, transport: "thread" });
      const pool = yield* usePool<Echo>({ connect: { path }, maxWorkers: 1 });
      return yield* pool.run("whoami");
    });
    expect(who.pid).toBe(process.pid);
  });

  for (const transport of ["process", "thread"] as const) {
    it(`fails a call that goes past its ${transport} worker's resourceLimits with WorkerResourceLimitError, prints nothing, and serves the next`, async () => {
      const path = join(dir, `limits-${transport}.sock`);
      const printed = vi.spyOn(process.stderr, "write");
      try {
        await run(function* () {
          const server = yield* serveWorkers({
            listen: { path },
            worker,
            transport,
            resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 },
          });
          const pool = yield* usePool<Echo>({ connect: { path }, maxWorkers: 1 });
          expect(yield* pool.run("allocate", 4)).toBe(4);
          const { error } = yield* settle(pool.run("allocate", 1024));
          expect(error).toBeInstanceOf(WorkerResourceLimitError);
          expect(error).toBeInstanceOf(WorkerCrashedError);
          expect(error.code).toBe("BOUGH_POOL_RESOURCE_LIMIT");
          expect(error.message).toMatch(/heap|resourceLimits/i);
          expect(yield* pool.run("inc", 1)).toBe(2);
          expect(server.spawned).toBe(2);
        });
        // V8's out-of-memory report became the error's message instead of being printed
        const text = printed.mock.calls.map(([chunk]) => String(chunk)).join("");
        expect(text).not.toMatch(/FATAL ERROR|Last few GCs/);
      } finally {
        printed.mockRestore();
      }
    });
  }

  it("serves over TCP on an ephemeral port", async () => {
    const n = await run(function* () {
      const server = yield* serveWorkers({ listen: { port: 0, host: "127.0.0.1" }, worker });
      expect("port" in server.address && server.address.port).toBeGreaterThan(0);
      const pool = yield* usePool<Echo>({ connect: server.address, maxWorkers: 1 });
      return yield* pool.run("inc", 9);
    });
    expect(n).toBe(10);
  });

  it("keeps the remote error's name, message, stack and own properties over the wire", async () => {
    const path = join(dir, "b.sock");
    const { error } = await run(function* () {
      yield* serveWorkers({ listen: { path }, worker });
      const pool = yield* usePool<Echo>({ connect: { path }, maxWorkers: 1 });
      return yield* settle(pool.run("fail", "over the wire"));
    });
    expect(error).toBeInstanceOf(TaskError);
    expect(error.remoteName).toBe("RangeError");
    expect(error.message).toBe("over the wire");
    expect(error.stack).toMatch(/RangeError: over the wire/);
    expect(error.extra).toBe(42);
    expect(error.detail).toEqual({ why: "testing" });
  });

  it("closes a connection that sends garbage or malformed frames, logging a protocol error, and nothing else", {
    timeout: 60_000,
  }, async () => {
    const path = join(dir, "c.sock");
    const errors: ProtocolError[] = [];
    await run(function* () {
      const server = yield* serveWorkers({
        listen: { path },
        worker,
        onProtocolError: (error) => errors.push(error),
      });
      const pool = yield* usePool<Echo>({ connect: { path }, maxWorkers: 1 });
      const checkout = yield* pool.checkout();
      expect(yield* checkout.call("push", 1)).toBe(1);
      yield* until(
        Promise.all([
          sendRaw(path, "\x00\x01garbage bytes\n"),
          sendRaw(path, '["zz", {}]\n'),
          sendRaw(path, '["do", {}, "inc"]\n'),
        ]),
      );
      yield* until(eventually(() => errors.length === 3));
      expect(errors.every((e) => e instanceof ProtocolError)).toBe(true);
      const messages = errors.map((e) => e.message).sort();
      // none of them said hello: the server refused them before any worker existed
      expect(messages[0]).toMatch(/not JSON/);
      expect(messages[1]).toMatch(/malformed hello frame/);
      expect(messages[2]).toMatch(/malformed hello frame/);
      expect(server.spawned).toBe(1);
      expect(yield* checkout.call("push", 2)).toBe(2);
      yield* until(eventually(() => server.connections === 1));
    });
  });

  it("closes a connection whose frame exceeds maxFrameBytes", async () => {
    const path = join(dir, "big.sock");
    const errors: ProtocolError[] = [];
    await run(function* () {
      yield* serveWorkers({
        listen: { path },
        worker,
        maxFrameBytes: 64,
        onProtocolError: (error) => errors.push(error),
      });
      yield* until(sendRaw(path, `["do",{},"echo",["${"x".repeat(100)}`));
      yield* until(eventually(() => errors.length === 1));
    });
    expect(errors[0].message).toMatch(/larger than 64 bytes/);
  });

  it("forks no worker for 50 connections that never say hello, and closes them after handshakeTimeoutMs", async () => {
    const path = join(dir, "silent.sock");
    const errors: ProtocolError[] = [];
    await run(function* () {
      const server = yield* serveWorkers({
        listen: { path },
        worker,
        handshakeTimeoutMs: 500,
        onProtocolError: (error) => errors.push(error),
      });
      const clients = Array.from({ length: 50 }, () => silent(path));
      yield* until(Promise.all(clients.map((c) => c.connected)));
      yield* until(eventually(() => server.connections === 50));
      expect(server.workers).toBe(0);
      const closed = yield* until(Promise.all(clients.map((c) => c.closed)));
      expect(closed.every((received) => received === "")).toBe(true);
      expect(server.spawned).toBe(0);
      expect(server.connections).toBe(0);
      // the server still serves a client that says hello
      const pool = yield* usePool<Echo>({ connect: { path }, maxWorkers: 1 });
      expect(yield* pool.run("inc", 1)).toBe(2);
      expect(server.spawned).toBe(1);
    });
    expect(errors.length).toBe(50);
    expect(errors.every((e) => /no hello frame within 500 ms/.test(e.message))).toBe(true);
  });

  it("refuses a wrong or missing token as unauthorized, without a worker, and serves the right one", async () => {
    const path = join(dir, "token.sock");
    const refused: ServerRefusedError[] = [];
    await run(function* () {
      const server = yield* serveWorkers({
        listen: { path },
        worker,
        token: "s3cret",
        onRefused: (error) => refused.push(error),
      });
      for (const token of ["wrong", undefined]) {
        const pool = yield* usePool<Echo>({
          connect: { path },
          maxWorkers: 1,
          token,
          timeoutMs: 5_000,
        });
        const { error } = yield* settle(pool.run("inc", 1));
        expect(error).toBeInstanceOf(ServerRefusedError);
        expect(error).toMatchObject({ reason: "unauthorized", code: "BOUGH_POOL_REFUSED" });
      }
      expect(server.spawned).toBe(0);
      const pool = yield* usePool<Echo>({ connect: { path }, maxWorkers: 1, token: "s3cret" });
      expect(yield* pool.run("inc", 1)).toBe(2);
    });
    expect(refused.map((e) => e.reason)).toEqual(["unauthorized", "unauthorized"]);
  });

  it("refuses connections over maxWorkers as busy, and the waiting client gets the worker once it is free", async () => {
    const path = join(dir, "busy.sock");
    const refused: ServerRefusedError[] = [];
    await run(function* () {
      const server = yield* serveWorkers({
        listen: { path },
        worker,
        maxWorkers: 1,
        onRefused: (error) => refused.push(error),
      });
      const second = yield* usePool<Echo>({ connect: { path }, maxWorkers: 1, retryDelayMs: 20 });
      const holder = yield* spawn(function* () {
        // the first pool holds the server's only worker until this task ends
        const first = yield* usePool<Echo>({ connect: { path }, maxWorkers: 1 });
        const checkout = yield* first.checkout();
        yield* checkout.call("inc", 0);
        yield* until(eventually(() => refused.length >= 2));
      });
      yield* until(eventually(() => server.workers === 1));
      const waited = yield* second.run("inc", 41); // refused while `holder` holds the only worker
      expect(waited).toBe(42);
      yield* holder;
      expect(refused.every((e) => e.reason === "busy" && e.retryable)).toBe(true);
      expect(server.spawned).toBe(2);
      // and a client whose timeout passes while the server stays busy gets a TimeoutError
      const blocker = yield* second.checkout();
      yield* blocker.call("inc", 0);
      const third = yield* usePool<Echo>({
        connect: { path },
        maxWorkers: 1,
        retryDelayMs: 20,
        timeoutMs: 300,
      });
      const { error } = yield* settle(third.run("inc", 1));
      expect(error).toBeInstanceOf(TimeoutError);
    });
  });

  it("refuses connections over maxConnections as busy with a refusal frame", async () => {
    const path = join(dir, "conns.sock");
    await run(function* () {
      const server = yield* serveWorkers({
        listen: { path },
        worker,
        maxConnections: 2,
        handshakeTimeoutMs: 10_000,
        onRefused: () => {},
      });
      const held = [silent(path), silent(path)];
      yield* until(eventually(() => server.connections === 2));
      const extra = yield* until(silent(path).closed);
      expect(JSON.parse(extra)).toEqual([
        "no",
        { reason: "busy", message: "2 connections are open (maxConnections)" },
      ]);
      expect(server.spawned).toBe(0);
      void held;
    });
  });

  for (const transport of ["process", "thread"] as const) {
    it(`kills a ${transport} worker busy for longer than the server's hungWorkerTimeoutMs, whatever the client's timeout`, async () => {
      const path = join(dir, `hung-${transport}.sock`);
      const reaped: { reason: string }[] = [];
      await run(function* () {
        const server = yield* serveWorkers({
          listen: { path },
          worker,
          transport,
          hungWorkerTimeoutMs: 300,
          onReap: (event) => reaped.push(event),
        });
        const pool = yield* usePool<Echo>({
          connect: { path },
          maxWorkers: 1,
          timeoutMs: Infinity,
        });
        yield* scoped(function* () {
          const checkout = yield* pool.checkout();
          // each reply resets the watch: three calls of half the limit are not a hang
          for (let i = 0; i < 3; i++) expect(yield* checkout.call("spin", 150)).toBe(150);
        });
        const started = Date.now();
        const { error } = yield* settle(pool.run("hang"));
        expect(error).toBeInstanceOf(WorkerCrashedError);
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(yield* pool.run("inc", 1)).toBe(2); // a fresh worker
        yield* until(eventually(() => server.workers === 1));
      });
      expect(reaped.map((e) => e.reason)).toEqual(["hung"]);
    });
  }

  it("closes a served connection that stays idle for idleTimeoutMs", async () => {
    const path = join(dir, "idle.sock");
    const reaped: { reason: string }[] = [];
    await run(function* () {
      const server = yield* serveWorkers({
        listen: { path },
        worker,
        // Long enough that a busy machine's gap between the worker's ready
        // frame and the client's first call is not taken for idleness (300 ms
        // was, once, under three busy loops).
        idleTimeoutMs: 1500,
        onReap: (event) => reaped.push(event),
      });
      const pool = yield* usePool<Echo>({ connect: { path }, maxWorkers: 1 });
      expect(yield* pool.run("sleep", 1800)).toBe(1800); // a call in flight is not idle
      yield* until(eventually(() => server.workers === 0));
      expect(pool.stats().workers).toBe(0);
      expect(yield* pool.run("inc", 1)).toBe(2);
    });
    expect(reaped.map((e) => e.reason)).toContain("idle");
  });

  it("serves over TLS with a token, and a plain or untrusting client gets no worker", async () => {
    const { key, cert } = selfSigned("server");
    const other = selfSigned("other");
    const errors: ProtocolError[] = [];
    await run(function* () {
      const server = yield* serveWorkers({
        listen: { port: 0, host: "127.0.0.1" },
        worker,
        tls: { key, cert },
        token: "s3cret",
        onProtocolError: (error) => errors.push(error),
      });
      const { port } = server.address as { port: number };
      const pool = yield* usePool<Echo>({
        connect: { host: "127.0.0.1", port, tls: { ca: cert } },
        token: "s3cret",
        maxWorkers: 1,
      });
      expect(yield* pool.run("inc", 1)).toBe(2); // a process worker, relayed through the TLS session
      for (const connect of [
        { host: "127.0.0.1", port },
        { host: "127.0.0.1", port, tls: { ca: other.cert } },
      ]) {
        const stranger = yield* usePool<Echo>({
          connect,
          token: "s3cret",
          maxWorkers: 1,
          timeoutMs: 5_000,
        });
        const { error } = yield* settle(stranger.run("inc", 1));
        expect(error?.name).toBe("SpawnError");
      }
      expect(server.spawned).toBe(1);
    });
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors.every((e) => /TLS handshake failed/.test(e.message))).toBe(true);
  });

  it("serves clients in two processes from one server", async () => {
    const path = join(dir, "d.sock");
    const client = fileURLToPath(new URL("./fixtures/remote-client.ts", import.meta.url));
    const { local, remote } = await run(function* () {
      yield* serveWorkers({ listen: { path }, worker });
      const pool = yield* usePool<Echo>({ connect: { path }, maxWorkers: 1 });
      const other = until(
        new Promise<string>((resolve, reject) =>
          execFile(
            process.execPath,
            ["--import", "tsx", client, path],
            { timeout: 20_000 },
            (error, stdout) => (error ? reject(error) : resolve(stdout)),
          ),
        ),
      );
      const local = yield* pool.run("whoami");
      const remote = JSON.parse(yield* other);
      return { local, remote };
    });
    expect(remote.n).toBe(42);
    expect(remote.clientPid).not.toBe(process.pid);
    // Each connection has its own worker process.
    expect(remote.who.pid).not.toBe(local.pid);
    expect(local.pid).not.toBe(process.pid);
  });
});
