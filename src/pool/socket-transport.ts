import { connect, type Socket } from "node:net";
import { type ConnectionOptions, connect as connectTls } from "node:tls";
import { ServerRefusedError, SpawnError, WorkerCrashedError } from "./errors.js";
import {
  type ClientFrame,
  checkWorkerFrame,
  createFrameDecoder,
  encodeFrame,
  type HelloMeta,
  isRefusalFrame,
} from "./protocol.js";
import { type WorkerLink, WorkerLinkBase } from "./worker-link.js";

/** Where a worker server listens: a unix socket path, or a TCP host and port. */
export type SocketAddress =
  | { path: string }
  | {
      host?: string;
      port: number;
      /** Connect over TLS (to `serveWorkers({ tls })`): `{ ca }` for a private CA, `{ cert, key }` for a client certificate. */
      tls?: ConnectionOptions;
    };

/**
 * The connection to a worker server could not be made (nobody listens yet).
 * The pool retries such links until the waiting checkout's timeout.
 */
export class ConnectRefusedError extends SpawnError {
  override readonly name = "ConnectRefusedError";
  readonly retryable = true;
}

/** Options of {@link openSocketLink}. */
export interface SocketLinkOptions {
  /** The server's shared secret, sent in the hello frame. */
  token?: string;
  /** The client's name, sent in the hello frame (`usePool({ name })`). */
  name?: string;
}

/**
 * Connects to a worker server (see `serveWorkers`), says hello (with the
 * token, if any), and returns the link to the worker the server then spawns
 * for this connection. A refusal rejects `ready` with a
 * `ServerRefusedError`. Frames are NDJSON lines; garbage from
 * the server closes the connection (the checkout sees a `WorkerCrashedError`
 * whose cause is the `ProtocolError`).
 *
 * @example
 * ```ts
 * const link = openSocketLink({ path: "/tmp/bough-pool.sock" });
 * await link.ready;
 * ```
 */
export function openSocketLink(
  address: SocketAddress,
  options: SocketLinkOptions = {},
): WorkerLink {
  return new SocketLink(address, options);
}

class SocketLink extends WorkerLinkBase {
  private readonly socket: Socket;
  private connected = false;

  constructor(address: SocketAddress, options: SocketLinkOptions) {
    super("the connection was closed before the worker was ready");
    const secure = !("path" in address) && address.tls !== undefined;
    this.socket =
      "path" in address
        ? connect({ path: address.path })
        : address.tls !== undefined
          ? connectTls({ ...address.tls, host: address.host ?? "127.0.0.1", port: address.port })
          : connect({ host: address.host ?? "127.0.0.1", port: address.port });
    this.socket.setNoDelay?.(true);
    const decoder = createFrameDecoder();
    const meta: HelloMeta = {};
    if (options.token !== undefined) meta.token = options.token;
    if (options.name !== undefined) meta.name = options.name;
    const hello = () => this.socket.write(encodeFrame(["hi", meta]));
    this.socket.on("connect", () => {
      this.connected = true;
      if (!secure) hello();
    });
    if (secure) this.socket.on("secureConnect", hello);
    this.socket.on("data", (chunk) => {
      try {
        const frames = decoder.push(chunk);
        for (let i = 0; i < frames.length; i++) {
          const value = frames[i];
          if (!this.isReady && isRefusalFrame(value)) {
            this.refuse(new ServerRefusedError(value[1].reason, value[1].message));
            this.socket.destroy();
            return;
          }
          this.receive(checkWorkerFrame(value));
        }
      } catch (error) {
        this.lastError = error;
        this.socket.destroy();
      }
    });
    this.socket.on("error", (error) => {
      this.lastError = error;
    });
    this.socket.once("close", () => {
      const cause = this.lastError;
      this.ended(
        () =>
          this.connected
            ? new SpawnError(
                "the worker server closed the connection before its worker was ready",
                { cause },
              )
            : new ConnectRefusedError(
                `cannot connect to the worker server: ${(cause as Error)?.message ?? "closed"}`,
                { cause },
              ),
        () =>
          new WorkerCrashedError(
            cause
              ? `connection to the worker server lost: ${(cause as Error).message}`
              : "connection to the worker server lost",
            null,
            { cause },
          ),
      );
    });
  }

  send(frame: ClientFrame): void {
    this.socket.write(encodeFrame(frame));
  }

  protected stop(): void {
    this.socket.destroy();
  }
}
