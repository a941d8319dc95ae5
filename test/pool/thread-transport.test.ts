import { describe, expect, it } from "vitest";
import { SerializationError, SpawnError } from "../../src/pool/index.js";
import { openThreadLink } from "../../src/pool/thread-transport.js";
import { osThreads, realWorkerTests } from "../helpers/real-workers.js";
import { echoWorkerFile, FULL_CALL_META, metaRoundTrip } from "./helpers.js";

realWorkerTests();

describe("thread transport", () => {
  it("starts a worker thread that says ready, and kill() resolves once it has terminated", async () => {
    const before = osThreads();
    const link = openThreadLink(echoWorkerFile);
    const meta = await link.ready;
    expect(meta.pid).toBe(process.pid);
    expect(meta.threadId).toBeGreaterThan(0);
    expect(osThreads()).toBeGreaterThan(before);
    const replies: unknown[] = [];
    link.onFrame = (frame) => replies.push(frame);
    link.send(["do", {}, "inc", [1]]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(replies).toEqual([["ok", {}, 2]]);
    await link.kill();
    expect(osThreads()).toBe(before);
  });

  it("carries a call's metadata (trace context, client name) to the worker thread", async () => {
    const link = openThreadLink(echoWorkerFile);
    expect(await metaRoundTrip(link)).toEqual(["ok", {}, FULL_CALL_META]);
    await link.kill();
  });

  it("fails with SpawnError when the file does not call defineWorker", async () => {
    const link = openThreadLink(new URL("./fixtures/not-a-worker.ts", import.meta.url));
    const error = await link.ready.catch((e) => e);
    expect(error).toBeInstanceOf(SpawnError);
    expect(error.message).toMatch(/before it was ready/);
    await link.kill();
  });

  it("throws SerializationError from send() for arguments structured clone cannot copy", async () => {
    const link = openThreadLink(echoWorkerFile);
    await link.ready;
    expect(() => link.send(["do", {}, "echo", [() => 1]])).toThrow(SerializationError);
    await link.kill();
  });
});
