import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SerializationError, SpawnError } from "../../src/pool/index.js";
import { openThreadLink } from "../../src/pool/thread-transport.js";
import { realWorkerTests } from "../helpers/real-workers.js";
import { osThreadEntry } from "../helpers/threads.js";
import { echoWorkerFile, FULL_CALL_META, metaRoundTrip } from "./helpers.js";

realWorkerTests();

describe("thread transport", () => {
  it("starts a worker thread that says ready, and kill() resolves once it has terminated", async () => {
    const link = openThreadLink(echoWorkerFile);
    const meta = await link.ready;
    expect(meta.pid).toBe(process.pid);
    expect(meta.threadId).toBeGreaterThan(0);
    const replies: unknown[] = [];
    let replied = () => {};
    const bothReplied = new Promise<void>((resolve) => (replied = resolve));
    link.onFrame = (frame) => {
      if (replies.push(frame) === 2) replied();
    };
    link.send(["do", {}, "inc", [1]]);
    link.send(["do", {}, "osThread", []]);
    await bothReplied;
    expect(replies[0]).toEqual(["ok", {}, 2]);
    // the worker's own OS thread, rather than this process's thread count, which other
    // threads (V8's, libuv's, the module loader's) change at any moment
    const task = osThreadEntry((replies[1] as [string, object, number])[2]);
    expect(existsSync(task)).toBe(true);
    await link.kill();
    expect(existsSync(task)).toBe(false);
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
