import { Writable } from "node:stream";
import { run, spawn, suspend, until } from "effection";
import { describe, expect, it } from "vitest";
import { useCapture } from "../../src/inspect/capture.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { quietStdioEachTest } from "../helpers/quiet-stdio.js";

checkLeaksAfterEach();
quietStdioEachTest();

/** A Writable that records what reaches it; a slow one has a tiny buffer so back-pressure shows. */
function sink({ slow = false } = {}) {
  const received: string[] = [];
  const stream = new Writable({
    highWaterMark: 4,
    write(chunk: Buffer, _encoding, callback) {
      received.push(chunk.toString("utf8"));
      if (slow) setImmediate(callback);
      else callback();
    },
  });
  return { stream, received };
}

describe("useCapture", () => {
  it("copies every write into lines while the stream still gets it", async () => {
    const { stream, received } = sink();
    await run(function* () {
      const buffer = yield* useCapture(stream, { lines: 2 });
      stream.write("one\ntw");
      stream.write(Buffer.from("o\nthree\nfour"));
      expect(buffer.lines()).toEqual(["two", "three"]);
      expect(buffer.partial()).toBe("four");
    });
    expect(received.join("")).toBe("one\ntwo\nthree\nfour");
  });

  it("keeps write's return value and calls its callback", async () => {
    const { stream } = sink({ slow: true });
    await run(function* () {
      yield* useCapture(stream, { lines: 10 });
      expect(stream.write("a\n")).toBe(true);
      const results: boolean[] = [];
      const done = new Promise<unknown>((resolve) => {
        results.push(stream.write("a long chunk over the high-water mark\n", "utf8", resolve));
      });
      expect(results).toEqual([false]); // back-pressure reaches the caller
      expect(yield* until(done)).toBeFalsy(); // the callback ran, without error
    });
  });

  it("passes on exceptions and does not capture a write the stream refused", async () => {
    const refusing = {
      write(chunk: string): boolean {
        if (chunk.includes("bad")) throw new Error("refused");
        return true;
      },
    };
    await run(function* () {
      const buffer = yield* useCapture(refusing, { lines: 10 });
      refusing.write("good\n");
      expect(() => refusing.write("bad\n")).toThrow("refused");
      expect(buffer.lines()).toEqual(["good"]);
    });
  });

  it("decodes UTF-8 characters split across writes and strings in other encodings", async () => {
    const { stream } = sink();
    await run(function* () {
      const buffer = yield* useCapture(stream, { lines: 10 });
      const bytes = Buffer.from("café ☕\n");
      stream.write(bytes.subarray(0, 4));
      stream.write(bytes.subarray(4, 7));
      stream.write(bytes.subarray(7));
      stream.write(Buffer.from("hex line\n").toString("hex"), "hex");
      expect(buffer.lines()).toEqual(["café ☕", "hex line"]);
    });
  });

  it("restores the original write of process.stdout and process.stderr when the scope ends", async () => {
    const stdoutWrite = process.stdout.write;
    const stderrWrite = process.stderr.write;
    const hadOwn = Object.hasOwn(process.stdout, "write");
    await run(function* () {
      const out = yield* useCapture(process.stdout, { lines: 5 });
      const err = yield* useCapture(process.stderr, { lines: 5 });
      expect(process.stdout.write).not.toBe(stdoutWrite);
      process.stdout.write("captured from stdout\n");
      process.stderr.write("captured from stderr\n");
      expect(out.lines()).toEqual(["captured from stdout"]);
      expect(err.lines()).toEqual(["captured from stderr"]);
    });
    expect(process.stdout.write).toBe(stdoutWrite);
    expect(process.stderr.write).toBe(stderrWrite);
    expect(Object.hasOwn(process.stdout, "write")).toBe(hadOwn);
  });

  it("restores the stream when the capturing task is halted or fails", async () => {
    const { stream } = sink();
    const original = stream.write;
    await run(function* () {
      const task = yield* spawn(function* () {
        yield* useCapture(stream, { lines: 1 });
        yield* suspend();
      });
      yield* until(Promise.resolve());
      expect(stream.write).not.toBe(original);
      yield* task.halt();
      expect(stream.write).toBe(original);
    });
    await expect(
      run(function* () {
        yield* useCapture(stream, { lines: 1 });
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(stream.write).toBe(original);
    expect(Object.hasOwn(stream, "write")).toBe(false);
  });

  it("lets captures nest and end in any order without losing a wrapper", async () => {
    const { stream, received } = sink();
    const original = stream.write;
    await run(function* () {
      const outer = yield* spawn(function* () {
        const buffer = yield* useCapture(stream, { lines: 10 });
        yield* suspend();
        return buffer;
      });
      yield* until(Promise.resolve());
      const inner = yield* useCapture(stream, { lines: 10 });
      stream.write("both\n");
      yield* outer.halt(); // the outer capture ends first, under the inner wrapper
      stream.write("inner only\n");
      expect(inner.lines()).toEqual(["both", "inner only"]);
    });
    expect(received.join("")).toBe("both\ninner only\n");
    stream.write("after\n");
    expect(stream.write).not.toBe(original); // the outer wrapper stays, as a pass-through
    expect(received.join("")).toBe("both\ninner only\nafter\n");
  });

  it("rejects something that cannot be written to", () => {
    expect(() => useCapture({} as never, { lines: 1 })).toThrow(TypeError);
  });
});
