import { BoughError } from "../core/errors.js";

/**
 * Thrown by {@link useUdpSocket} when the port it should bind to is already
 * taken by another socket. `port` and `host` name what was asked for.
 *
 * @example
 * ```ts
 * try {
 *   yield* useUdpSocket({ port: 8001 });
 * } catch (error) {
 *   if (error instanceof PortInUseError) console.error(`port ${error.port} is taken`);
 *   else throw error;
 * }
 * ```
 */
export class PortInUseError extends BoughError {
  override readonly name = "PortInUseError";
  /** The port that was asked for. */
  readonly port: number;
  /** The address that was asked for (`undefined`: every address). */
  readonly host: string | undefined;

  constructor(port: number, host: string | undefined, cause?: unknown) {
    super("BOUGH_SOURCES_PORT_IN_USE", `UDP port ${port} is already in use on ${host ?? "*"}`, {
      cause,
    });
    this.port = port;
    this.host = host;
  }
}

/**
 * Thrown by {@link useUdpSocket} when the socket cannot be bound for another
 * reason than a taken port (no permission, unknown address, …), and by a
 * subscription to `messages` when the socket fails or is already closed.
 * `cause` is the error node reported, when there is one.
 *
 * @example
 * ```ts
 * try {
 *   yield* useUdpSocket({ port: 53, host: "10.255.255.1" });
 * } catch (error) {
 *   if (error instanceof UdpSocketError) console.error(error.message, error.cause);
 * }
 * ```
 */
export class UdpSocketError extends BoughError {
  override readonly name = "UdpSocketError";

  constructor(message: string, cause?: unknown) {
    super("BOUGH_SOURCES_UDP_SOCKET", message, { cause });
  }
}

/**
 * Checks an interval option at call time and throws a `TypeError` naming the
 * function and the bad value: an interval must be a finite number above 0.
 */
export function checkInterval(fn: string, interval: unknown): asserts interval is number {
  if (typeof interval !== "number" || !Number.isFinite(interval) || interval <= 0) {
    throw new TypeError(
      `${fn}: intervalMs must be a finite number of milliseconds > 0, got ${show(interval)}`,
    );
  }
}

/** A value as it should appear in an error message. */
export function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}
