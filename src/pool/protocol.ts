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
  /** True when the worker has a `checkoutDone` hook (so `dn` frames are worth sending). */
  done?: boolean;
}

/**
 * What a call carries beside its method and arguments: the same fields on
 * every transport (threads, processes, sockets). A worker reads them with
 * `callMeta()`.
 */
export interface CallMeta {
  /** The caller's W3C `traceparent` (set while `useTracing()` from `bough/otel` runs), so that the worker's spans join its trace. */
  traceparent?: string;
  /** The client's name (`usePool({ name })`). */
  name?: string;
}

/** `["do", {traceparent?, name?}, method, args]` — run `method` (null for a function interface) with `args`. */
export type DoFrame = ["do", CallMeta, string | null, unknown[]];
/** `["dn", {}]` — the checkout is released normally (the worker runs its `checkoutDone`). */
export type DoneFrame = ["dn", Record<string, unknown>];
/** `["ok", {log}, result]` */
export type OkFrame = ["ok", ReplyMeta, unknown];
/** `["er", {log}, error]` */
export type ErrorFrame = ["er", ReplyMeta, SerializedError];
/** `["rd", {pid, threadId, setup?}]` — the worker is ready (bough's hello frame). */
export type ReadyFrame = ["rd", ReadyMeta];

/** What a client says first on a worker server connection. */
export interface HelloMeta {
  /** The server's shared secret, when it has one. */
  token?: string;
  /** The client's name (`usePool({ name })`), for the server's logs and its worker's process title. */
  name?: string;
}
/** `["hi", {token?, name?}]` — the first frame a client sends to a worker server; no worker exists before it. */
export type HelloFrame = ["hi", HelloMeta];
/** Why a worker server refused a connection. */
export interface RefusalMeta {
  /** `"busy"` (maxConnections or maxWorkers reached: try again) or `"unauthorized"` (wrong or missing token). */
  reason: "busy" | "unauthorized";
  message: string;
}
/** `["no", {reason, message}]` — the worker server refuses the connection and closes it. */
export type RefusalFrame = ["no", RefusalMeta];

/**
 * `["by", {inCall}]` — the worker is exiting (its code called `process.exit`).
 * `inCall: false` means it runs no call: a call sent to it and not answered
 * never started, so the pool can give it to another worker.
 */
export type ByeFrame = ["by", { inCall: boolean }];

/** Frames a client sends to a worker. */
export type ClientFrame = DoFrame | DoneFrame;
/** Frames a worker sends to its client. */
export type WorkerFrame = OkFrame | ErrorFrame | ReadyFrame | ByeFrame;

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
export function encodeFrame(frame: ClientFrame | WorkerFrame | HelloFrame | RefusalFrame): string {
  // Fast path: frames whose payload is only primitives JSON carries exactly
  // need no replacer (a replacer costs a call per key).
  if (plainPayload(frame)) return `${JSON.stringify(frame)}\n`;
  try {
    return `${JSON.stringify(frame, strict)}\n`;
  } catch (error) {
    throw new SerializationError(
      `cannot serialise ${frame[0] === "do" ? `the arguments of "${frame[2] ?? "(call)"}"` : "a frame"}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

function isPrimitive(value: unknown): boolean {
  const type = typeof value;
  return value === null || type === "number" || type === "string" || type === "boolean";
}

function plainMeta(meta: CallMeta): boolean {
  for (const key in meta) if (typeof meta[key as keyof CallMeta] !== "string") return false;
  return true;
}

function plainPayload(frame: ClientFrame | WorkerFrame | HelloFrame | RefusalFrame): boolean {
  switch (frame[0]) {
    case "do": {
      const args = frame[3];
      for (let i = 0; i < args.length; i++) if (!isPrimitive(args[i])) return false;
      return frame[1] === EMPTY_META || plainMeta(frame[1]);
    }
    case "ok":
      return isPrimitive(frame[2]) && frame[1].log === undefined;
    case "dn":
      return true;
    default:
      return false;
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
      const text = typeof chunk === "string" ? chunk : chunk.toString("utf8");
      if (buffered.length === 0 && text.indexOf("\n") === text.length - 1 && text.length > 1) {
        // Fast path: exactly one whole frame in this chunk.
        if (text.trim() === "") return [];
        try {
          return [JSON.parse(text)];
        } catch {
          throw new ProtocolError(`malformed frame (not JSON): ${preview(text.slice(0, -1))}`);
        }
      }
      buffered += text;
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
      Array.isArray(value[3]) &&
      (value[1].traceparent === undefined || typeof value[1].traceparent === "string") &&
      (value[1].name === undefined || typeof value[1].name === "string")
    ) {
      return value as DoFrame;
    }
    if (value[0] === "dn" && value.length === 2) return value as DoneFrame;
  }
  throw new ProtocolError(`malformed client frame: ${preview(JSON.stringify(value) ?? "")}`);
}

/** The longest client name a hello frame may carry. */
const MAX_NAME_LENGTH = 200;

/**
 * Checks that a parsed value is a hello frame (`["hi", {token?, name?}]`), the
 * first frame on a worker server connection. Throws {@link ProtocolError}
 * otherwise.
 *
 * @example
 * ```ts
 * const [, { token }] = checkHelloFrame(JSON.parse(line));
 * ```
 */
export function checkHelloFrame(value: unknown): HelloFrame {
  if (
    Array.isArray(value) &&
    value.length === 2 &&
    value[0] === "hi" &&
    isMeta(value[1]) &&
    (value[1].token === undefined || typeof value[1].token === "string") &&
    (value[1].name === undefined ||
      (typeof value[1].name === "string" && value[1].name.length <= MAX_NAME_LENGTH))
  ) {
    return value as HelloFrame;
  }
  throw new ProtocolError(`malformed hello frame: ${preview(JSON.stringify(value) ?? "")}`);
}

/**
 * True when a parsed value is a worker server's refusal (`["no", {reason, message}]`).
 *
 * @example
 * ```ts
 * if (isRefusalFrame(value)) throw new ServerRefusedError(value[1].reason, value[1].message);
 * ```
 */
export function isRefusalFrame(value: unknown): value is RefusalFrame {
  return (
    Array.isArray(value) &&
    value.length === 2 &&
    value[0] === "no" &&
    isMeta(value[1]) &&
    (value[1].reason === "busy" || value[1].reason === "unauthorized") &&
    typeof value[1].message === "string"
  );
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
    if (value[0] === "by" && value.length === 2 && typeof value[1].inCall === "boolean") {
      return value as ByeFrame;
    }
  }
  throw new ProtocolError(`malformed worker frame: ${preview(JSON.stringify(value) ?? "")}`);
}

/**
 * The compact form of frames between a pool and its local workers (thread
 * MessagePort, process IPC), where both ends are bough and every nested object
 * costs structured-clone time: `do` is `[...args, method]` (with call
 * metadata: `{ a: [...args, method], m: meta }`), `dn` is `0`; `ok` is
 * `[result]` (or `[result, log]`), `er` is `{ e: error, l?: log }`, `rd` is
 * `{ rd: meta }`. Sockets carry the documented NDJSON frames instead; both
 * forms carry the same fields.
 */
export type PackedClientFrame = unknown[] | 0 | { a: unknown[]; m: CallMeta };
/** See {@link PackedClientFrame}. */
export type PackedWorkerFrame =
  | unknown[]
  | { e: SerializedError; l?: unknown }
  | { rd: ReadyMeta }
  | { by: boolean };

/**
 * The empty metadata object frames share (a frame made with it packs without
 * looking at its keys).
 *
 * @example
 * ```ts
 * link.send(["do", EMPTY_META, "inc", [1]]);
 * ```
 */
export const EMPTY_META: Record<string, never> = {};

/**
 * Packs a client frame for a local worker. Takes ownership of a `do` frame's
 * argument array (the method is appended to it).
 *
 * @example
 * ```ts
 * port.postMessage(packClientFrame(["do", {}, "inc", [1]])); // [1, "inc"]
 * ```
 */
export function packClientFrame(frame: ClientFrame): PackedClientFrame {
  if (frame[0] === "dn") return 0;
  const packed = frame[3];
  packed.push(frame[2]);
  const meta = frame[1];
  if (meta === EMPTY_META) return packed;
  for (const _ in meta) return { a: packed, m: meta };
  return packed;
}

/**
 * Unpacks what {@link packClientFrame} made.
 *
 * @example
 * ```ts
 * unpackClientFrame([1, "inc"]); // ["do", {}, "inc", [1]]
 * ```
 */
export function unpackClientFrame(packed: PackedClientFrame): ClientFrame {
  if (packed === 0) return ["dn", EMPTY_META];
  if (Array.isArray(packed)) {
    const method = packed.pop() as string | null;
    return ["do", EMPTY_META, method, packed];
  }
  const method = packed.a.pop() as string | null;
  return ["do", packed.m, method, packed.a];
}

/**
 * Packs a worker frame for its local pool.
 *
 * @example
 * ```ts
 * packWorkerFrame(["ok", {}, 2]); // [2]
 * ```
 */
export function packWorkerFrame(frame: WorkerFrame): PackedWorkerFrame {
  switch (frame[0]) {
    case "ok":
      return frame[1].log === undefined ? [frame[2]] : [frame[2], frame[1].log];
    case "er":
      return frame[1].log === undefined ? { e: frame[2] } : { e: frame[2], l: frame[1].log };
    case "by":
      return { by: frame[1].inCall };
    default:
      return { rd: frame[1] };
  }
}

/**
 * Unpacks what {@link packWorkerFrame} made.
 *
 * @example
 * ```ts
 * unpackWorkerFrame([2]); // ["ok", {}, 2]
 * ```
 */
export function unpackWorkerFrame(packed: PackedWorkerFrame): WorkerFrame {
  if (Array.isArray(packed)) {
    return packed.length === 1
      ? ["ok", EMPTY_META, packed[0]]
      : ["ok", { log: packed[1] as DeferredLogData }, packed[0]];
  }
  if ("rd" in packed) return ["rd", packed.rd];
  if ("by" in packed) return ["by", { inCall: packed.by }];
  return [
    "er",
    packed.l === undefined ? EMPTY_META : { log: packed.l as DeferredLogData },
    packed.e,
  ];
}
