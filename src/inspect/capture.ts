import { StringDecoder } from "node:string_decoder";
import { type Operation, resource } from "effection";
import { createLineBuffer, type LineBuffer, type LineBufferOptions } from "./line-buffer.js";

/** Anything with a node-style `write` method: `process.stdout`, a `Writable`, a socket. */
export interface WritableLike {
  write(...args: any[]): boolean;
}

/**
 * Copies everything written to `stream` into a {@link LineBuffer} for the
 * lifetime of the calling scope, by wrapping the stream's `write` method.
 *
 * The stream still receives every write exactly as before: same arguments,
 * same return value (so back-pressure still works), same callback, same
 * exceptions. Strings are decoded with their encoding and bytes as UTF-8
 * (a character split across two writes is put back together). A write the
 * stream refuses by throwing is not captured.
 *
 * When the scope ends, the stream's original `write` is put back. If
 * something else wrapped `write` after this capture (another capture, a test
 * runner), that wrapper is left in place and this capture simply stops
 * copying, so captures may nest and end in any order.
 *
 * @example
 * ```ts
 * import { main } from "effection";
 * import { useCapture } from "bough/inspect";
 *
 * await main(function* () {
 *   const stderr = yield* useCapture(process.stderr, { lines: 100 });
 *   console.error("disk almost full");
 *   console.log(stderr.lines()); // ["disk almost full"]
 * }); // process.stderr.write is the original again
 * ```
 */
export function useCapture(
  stream: WritableLike,
  options: LineBufferOptions,
): Operation<LineBuffer> {
  const buffer = createLineBuffer(options);
  if (typeof stream?.write !== "function") {
    throw new TypeError("useCapture: stream must have a write() method");
  }
  return resource(function* (provide) {
    const target = stream as { write: (...args: unknown[]) => boolean };
    const hadOwn = Object.hasOwn(target, "write");
    const original = target.write;
    const decoder = new StringDecoder("utf8");
    let active = true;

    const wrapper = function (this: unknown, ...args: unknown[]): boolean {
      const result = original.apply(this, args);
      if (active) {
        try {
          const text = decode(args[0], args[1], decoder);
          if (text) buffer.write(text);
        } catch {
          // capturing must never break the stream it watches
        }
      }
      return result;
    };
    target.write = wrapper;
    try {
      yield* provide(buffer);
    } finally {
      active = false;
      if (target.write === wrapper) {
        if (hadOwn) target.write = original;
        else delete (target as { write?: unknown }).write;
      }
    }
  });
}

function decode(chunk: unknown, encoding: unknown, decoder: StringDecoder): string {
  if (typeof chunk === "string") {
    if (typeof encoding !== "string" || /^utf-?8$/i.test(encoding)) return chunk;
    return Buffer.from(chunk, encoding as BufferEncoding).toString("utf8");
  }
  if (chunk instanceof Uint8Array) return decoder.write(Buffer.from(chunk));
  return "";
}
