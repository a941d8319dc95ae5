import { type SpanContext, TraceFlags } from "@opentelemetry/api";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Writes a span context as a W3C `traceparent` header value
 * (`00-<trace id>-<span id>-<flags>`): what bough puts in a pool call frame
 * or a hub entry so that the work done there joins the caller's trace.
 *
 * @example
 * ```ts
 * formatTraceparent(span.spanContext()); // "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
 * ```
 */
export function formatTraceparent(context: SpanContext): string {
  const flags = (context.traceFlags & 0xff).toString(16).padStart(2, "0");
  return `00-${context.traceId}-${context.spanId}-${flags}`;
}

/**
 * Reads a W3C `traceparent` value back into a remote span context;
 * `undefined` for anything malformed (a bad header is ignored, never thrown).
 *
 * @example
 * ```ts
 * parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
 * // { traceId: "4bf9…", spanId: "00f0…", traceFlags: 1, isRemote: true }
 * ```
 */
export function parseTraceparent(value: unknown): SpanContext | undefined {
  if (typeof value !== "string") return undefined;
  const match = TRACEPARENT.exec(value.trim().toLowerCase());
  if (match === null || /^0+$/.test(match[1]) || /^0+$/.test(match[2])) return undefined;
  return {
    traceId: match[1],
    spanId: match[2],
    traceFlags: Number.parseInt(match[3], 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
}
