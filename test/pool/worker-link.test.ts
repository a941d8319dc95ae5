import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, until } from "effection";
import { afterAll, describe, expect, it } from "vitest";
import { serveWorkers } from "../../src/pool/index.js";
import { openProcessLink } from "../../src/pool/process-transport.js";
import type { WorkerFrame } from "../../src/pool/protocol.js";
import { openSocketLink } from "../../src/pool/socket-transport.js";
import { openThreadLink } from "../../src/pool/thread-transport.js";
import { ReadyHandshake, type WorkerLink } from "../../src/pool/worker-link.js";
import { realWorkerTests } from "../helpers/real-workers.js";
import { echoWorkerFile, eventually } from "./helpers.js";

realWorkerTests();

const dir = mkdtempSync(join(tmpdir(), "bough-link-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The contract every transport keeps. */
async function checkContract(link: WorkerLink) {
  const meta = await link.ready;
  expect(meta.pid).toBeGreaterThan(0);
  expect(meta.done).toBe(true); // the echo worker has a checkoutDone hook
  const frames: WorkerFrame[] = [];
  const exits: Error[] = [];
  link.onFrame = (frame) => frames.push(frame);
  link.onExit = (error) => exits.push(error);
  link.send(["do", {}, "inc", [1]]);
  link.send(["do", {}, "fail", ["no"]]);
  await eventually(() => frames.length === 2);
  expect(frames[0]).toEqual(["ok", {}, 2]);
  expect(frames[1][0]).toBe("er");
  expect(frames[1][2]).toMatchObject({ name: "RangeError", message: "no", extra: 42 });
  const first = link.kill();
  expect(link.kill()).toBe(first);
  await first;
  expect(exits).toEqual([]);
}

describe("worker links", () => {
  it("keep the same contract over a thread", async () => {
    await checkContract(openThreadLink(echoWorkerFile));
  });

  it("keep the same contract over a child process", async () => {
    await checkContract(openProcessLink(echoWorkerFile));
  });

  it("keep the same contract over a socket to a worker server", async () => {
    const path = join(dir, "link.sock");
    await run(function* () {
      yield* serveWorkers({ listen: { path }, worker: echoWorkerFile });
      yield* until(checkContract(openSocketLink({ path })));
    });
  });
});

const ok = ["ok", {}, 1] as unknown as WorkerFrame;
const rd = ["rd", { pid: 42, threadId: 0 }] as unknown as WorkerFrame;

describe("ReadyHandshake", () => {
  it("ignores frames before the ready frame and passes on every frame after it", async () => {
    const handshake = new ReadyHandshake();
    expect(handshake.accept(ok)).toBe(false);
    expect(handshake.accept(rd)).toBe(false);
    expect(handshake.isReady).toBe(true);
    expect(await handshake.ready).toEqual({ pid: 42, threadId: 0 });
    expect(handshake.accept(ok)).toBe(true);
    expect(handshake.accept(rd)).toBe(true);
  });

  it("rejects ready on a failure before the worker was ready, and not after", async () => {
    const early = new ReadyHandshake();
    early.fail(new Error("exited before it was ready"));
    await expect(early.ready).rejects.toThrow("exited before it was ready");

    const late = new ReadyHandshake();
    late.accept(rd);
    late.fail(new Error("too late"));
    await expect(late.ready).resolves.toEqual({ pid: 42, threadId: 0 });
  });

  it("raises no unhandled rejection when nobody waits on a failed handshake", async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", listener);
    try {
      new ReadyHandshake().fail(new Error("nobody listens"));
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", listener);
    }
  });
});
