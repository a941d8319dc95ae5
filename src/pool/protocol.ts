import type { DeferredLogData } from "./deferred-log.js";
import { ProtocolError, SerializationError, type SerializedError } from "./errors.js";

/** Metadata of a reply: the worker's deferred log for the call, if it logged. */
export interface ReplyMeta {
  log?: DeferredLogData;
}

/** Sent by a worker once it is loaded and its `setup` has run. */
export interface ReadyMeta {
  pid: number;
  threadId: number;
  /** Present when `setup` threw. */
  setup?: SerializedError;
}

/** `["do", {}, method, args]` — run `method` (null for a function interface) with `args`. */
export type DoFrame = ["do", Record<string, unknown>, string | null, unknown[]];
/** `["dn", {}]` — the checkout is released normally (the worker runs its `checkoutDone`). */
export type DoneFrame = ["dn", Record<string, unknown>];
/** `["ok", {log}, result]` */
export type OkFrame = ["ok", ReplyMeta, unknown];
/** `["er", {log}, error]` */
export type ErrorFrame = ["er", ReplyMeta, SerializedError];
/** `["rd", {pid, threadId, setup?}]` — the worker is ready (bough's hello frame). */
export type ReadyFrame = ["rd", ReadyMeta];

/** Frames a client sends to a worker. */
export type ClientFrame = DoFrame | DoneFrame;
/** Frames a worker sends to its client. */
export type WorkerFrame = OkFrame | ErrorFrame | ReadyFrame;

/** The largest NDJSON frame a socket peer accepts by default (16 MiB). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

function strict(_key: string, value: unknown): unknown {
  const type = typeof value;
  if (type === "function" || type === "symbol") {
    throw new TypeError(`a ${type} cannot be sent to or from a worker`);
  }
  return value;
}

/**
 * Encodes a frame as one NDJSON line. Values JSON cannot carry (functions,
 * symbols, BigInts, cycles) throw a {@link SerializationError} instead of
 * being dropped silently.
 *
 * @example
 * ```ts
 * socket.write(encodeFrame(["do", {}, "hash", ["secret"]])); // '["do",{},"hash",["secret"]]\n'
 * ```
 */
export function encodeFrame(frame: ClientFrame | WorkerFrame): string {
  try {
    return `${JSON.stringify(frame, strict)}\n`;
  } catch (error) {
    throw new SerializationError(
      `cannot serialise ${frame[0] === "do" ? `the arguments of "${frame[2] ?? "(call)"}"` : "a frame"}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * Splits a byte stream into NDJSON lines and parses each as a frame. Garbage
 * (bad JSON, a line over `maxBytes`) throws a {@link ProtocolError}.
 *
 * @example
 * ```ts
 * const decoder = createFrameDecoder();
 * socket.on("data", (chunk) => {
 *   for (const frame of decoder.push(chunk)) handle(frame);
 * });
 * ```
 */
export function createFrameDecoder(maxBytes = MAX_FRAME_BYTES): {
  push(chunk: Buffer | string): unknown[];
} {
  let buffered = "";
  return {
    push(chunk) {
      buffered += typeof chunk === "string" ? chunk : chunk.toString("utf8");
      const frames: unknown[] = [];
      let from = 0;
      for (;;) {
        const newline = buffered.indexOf("\n", from);
        if (newline < 0) break;
        const line = buffered.slice(from, newline);
        from = newline + 1;
        if (line.trim() === "") continue;
        try {
          frames.push(JSON.parse(line));
        } catch {
          throw new ProtocolError(`malformed frame (not JSON): ${preview(line)}`);
        }
      }
      buffered = buffered.slice(from);
      if (buffered.length > maxBytes) {
        throw new ProtocolError(`frame larger than ${maxBytes} bytes`);
      }
      return frames;
    },
  };
}

function preview(line: string): string {
  const text = line.length > 60 ? `${line.slice(0, 60)}…` : line;
  return JSON.stringify(text);
}

const isMeta = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks that a parsed value is a frame a client may send (`do` or `dn`).
 * Throws {@link ProtocolError} otherwise.
 *
 * @example
 * ```ts
 * const frame = checkClientFrame(JSON.parse(line));
 * ```
 */
export function checkClientFrame(value: unknown): ClientFrame {
  if (Array.isArray(value) && isMeta(value[1])) {
    if (
      value[0] === "do" &&
      value.length === 4 &&
      (typeof value[2] === "string" || value[2] === null) &&
      Array.isArray(value[3])
    ) {
      return value as DoFrame;
    }
    if (value[0] === "dn" && value.length === 2) return value as DoneFrame;
  }
  throw new ProtocolError(`malformed client frame: ${preview(JSON.stringify(value) ?? "")}`);
}

/**
 * Checks that a parsed value is a frame a worker may send (`ok`, `er`, `rd`).
 * Throws {@link ProtocolError} otherwise.
 *
 * @example
 * ```ts
 * const frame = checkWorkerFrame(JSON.parse(line));
 * ```
 */
export function checkWorkerFrame(value: unknown): WorkerFrame {
  if (Array.isArray(value) && isMeta(value[1])) {
    if (value[0] === "ok" && value.length === 3) return value as OkFrame;
    if (value[0] === "er" && value.length === 3 && isMeta(value[2])) return value as ErrorFrame;
    if (value[0] === "rd" && value.length === 2) return value as ReadyFrame;
  }
  throw new ProtocolError(`malformed worker frame: ${preview(JSON.stringify(value) ?? "")}`);
}
