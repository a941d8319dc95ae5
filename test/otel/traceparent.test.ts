import { TraceFlags } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { formatTraceparent, parseTraceparent } from "../../src/otel/traceparent.js";

const context = {
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  spanId: "00f067aa0ba902b7",
  traceFlags: TraceFlags.SAMPLED,
};

describe("formatTraceparent and parseTraceparent", () => {
  it("write a span context as a W3C traceparent and read it back as a remote one", () => {
    const value = formatTraceparent(context);
    expect(value).toBe("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    expect(parseTraceparent(value)).toEqual({ ...context, isRemote: true });
  });

  it("ignore anything malformed instead of throwing", () => {
    for (const bad of [
      undefined,
      42,
      "",
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
    ]) {
      expect(parseTraceparent(bad)).toBeUndefined();
    }
  });
});
