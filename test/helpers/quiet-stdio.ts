import { afterEach, beforeEach } from "vitest";

type Write = (...args: unknown[]) => boolean;

/**
 * For each test of the calling file, replaces `process.stdout.write` and
 * `process.stderr.write` with sinks that discard what they are given, and puts
 * the real ones back after the test. For the inspector's capture tests: they
 * write to the process's own streams on purpose (and assert what was
 * captured), and a capture passes every write through to the stream, so
 * without this those lines (one is a `<script>` tag) land in the test run's
 * log among real warnings.
 *
 * A test that compares `process.stdout.write` before and after a capture sees
 * the sink both times: it is the write the capture wraps and puts back.
 *
 * @example
 * ```ts
 * quietStdioEachTest();
 * it("captures stderr", () => { process.stderr.write("seen by the capture only\n"); });
 * ```
 */
export function quietStdioEachTest(): void {
  const saved: { stream: NodeJS.WriteStream; own: boolean; write: Write }[] = [];
  beforeEach(() => {
    for (const stream of [process.stdout, process.stderr]) {
      const target = stream as unknown as { write: Write };
      saved.push({ stream, own: Object.hasOwn(stream, "write"), write: target.write });
      target.write = discard;
    }
  });
  afterEach(() => {
    for (const { stream, own, write } of saved.splice(0)) {
      if (own) (stream as unknown as { write: Write }).write = write;
      else delete (stream as unknown as { write?: Write }).write;
    }
  });
}

/** Accepts a write as a stream would, calling its callback if it has one. */
function discard(...args: unknown[]): boolean {
  const done = args.findLast((a) => typeof a === "function") as (() => void) | undefined;
  if (done) process.nextTick(done);
  return true;
}
