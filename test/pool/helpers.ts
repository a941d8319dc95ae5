import type { WorkerFrame } from "../../src/pool/protocol.js";
import type { WorkerLink } from "../../src/pool/worker-link.js";

/** The worker most tests use. */
export const echoWorkerFile = new URL("./fixtures/echo-worker.ts", import.meta.url);

/** Polls `predicate` every 5 ms until it is true (or fails after `ms`). */
export async function eventually(predicate: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Call metadata with every field a `do` frame carries. */
export const FULL_CALL_META = {
  traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  name: "billing",
};

/**
 * Sends `["do", FULL_CALL_META, "meta", []]` on a ready link and resolves with
 * the reply: the echo worker's `meta` returns what its call carried.
 */
export async function metaRoundTrip(link: WorkerLink): Promise<WorkerFrame> {
  await link.ready;
  const reply = new Promise<WorkerFrame>((resolve) => {
    link.onFrame = resolve;
  });
  link.send(["do", { ...FULL_CALL_META }, "meta", []]);
  return reply;
}
