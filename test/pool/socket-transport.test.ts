import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, sleep, spawn, until } from "effection";
import { afterAll, describe, expect, it } from "vitest";
import {
  ProtocolError,
  serveWorkers,
  TimeoutError,
  usePool,
  WorkerCrashedError,
} from "../../src/pool/index.js";
import { ConnectRefusedError, openSocketLink } from "../../src/pool/socket-transport.js";
import { realWorkerTests } from "../helpers/real-workers.js";
import { settle } from "../helpers/settle.js";
import type echoWorker from "./fixtures/echo-worker.js";
import { FULL_CALL_META, metaRoundTrip, echoWorkerFile as worker } from "./helpers.js";

realWorkerTests();

type Echo = typeof echoWorker;

const dir = mkdtempSync(join(tmpdir(), "bough-socket-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("socket transport", () => {
  it("lets a client created 1 s before the server starts succeed once it is up", async () => {
    const path = join(dir, "late.sock");
    const { n, waited } = await run(function* () {
      const pool = yield* usePool<Echo>({ connect: { path }, maxWorkers: 1, timeoutMs: 15_000 });
      const started = performance.now();
      const call = yield* spawn(() => pool.run("inc", 1));
      yield* sleep(1000);
      yield* serveWorkers({ listen: { path }, worker });
      const n = yield* call;
      return { n, waited: performance.now() - started };
    });
    expect(n).toBe(2);
    expect(waited).toBeGreaterThanOrEqual(1000);
    expect(waited).toBeLessThan(15_000);
  });

  it("times out a checkout when no server comes up within its timeout", async () => {
    const path = join(dir, "never.sock");
    const outcome = await run(function* () {
      const pool = yield* usePool<Echo>({ connect: { path }, maxWorkers: 1, timeoutMs: 300 });
      return yield* settle(pool.run("inc", 1));
    });
    expect(outcome.error).toBeInstanceOf(TimeoutError);
  });

  it("reports a refused connection as retryable", async () => {
    const link = openSocketLink({ path: join(dir, "nobody.sock") });
    const error = await link.ready.catch((e) => e);
    expect(error).toBeInstanceOf(ConnectRefusedError);
    expect((error as ConnectRefusedError).name).toBe("ConnectRefusedError");
    expect(error.retryable).toBe(true);
    await link.kill();
  });

  it("treats garbage from the server as a crashed worker caused by a ProtocolError", async () => {
    const path = join(dir, "liar.sock");
    const fake = createServer((socket) => {
      socket.write('["rd",{"pid":1,"threadId":0}]\n');
      socket.on("data", () => socket.write("this is not json\n"));
    });
    await new Promise<void>((resolve) => fake.listen(path, resolve));
    try {
      const outcome = await run(function* () {
        const pool = yield* usePool<Echo>({ connect: { path }, maxWorkers: 1, timeoutMs: 5000 });
        return yield* settle(pool.run("inc", 1));
      });
      expect(outcome.error).toBeInstanceOf(WorkerCrashedError);
      expect(outcome.error.cause).toBeInstanceOf(ProtocolError);
    } finally {
      await new Promise((resolve) => fake.close(resolve));
    }
  });

  for (const transport of ["process", "thread"] as const) {
    it(`carries a call's metadata (trace context, client name) to a worker server's ${transport} worker`, async () => {
      const path = join(dir, `meta-${transport}.sock`);
      const reply = await run(function* () {
        yield* serveWorkers({ listen: { path }, worker, transport });
        const link = openSocketLink({ path });
        try {
          return yield* until(metaRoundTrip(link));
        } finally {
          yield* until(link.kill());
        }
      });
      expect(reply).toEqual(["ok", {}, FULL_CALL_META]);
    });
  }

  it("sends frames as NDJSON and fails unserialisable arguments at the call site", async () => {
    const path = join(dir, "json.sock");
    await run(function* () {
      yield* serveWorkers({ listen: { path }, worker });
      const pool = yield* usePool<Echo>({ connect: { path }, maxWorkers: 1 });
      const checkout = yield* pool.checkout();
      const bad = yield* settle(checkout.call("echo", { n: 1n } as never));
      expect(bad.error?.name).toBe("SerializationError");
      expect(yield* checkout.call("echo", { nested: [1, null, "s"] })).toEqual({
        nested: [1, null, "s"],
      });
    });
  });
});
