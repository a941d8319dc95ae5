import { describe, expect, it } from "vitest";
import { BoughError } from "../../src/core/errors.js";
import { checkInterval, PortInUseError, UdpSocketError } from "../../src/sources/errors.js";

describe("sources errors", () => {
  it("gives PortInUseError a stable name and code, and names the port", () => {
    const cause = Object.assign(new Error("bind EADDRINUSE"), { code: "EADDRINUSE" });
    const error = new PortInUseError(8001, "127.0.0.1", cause);
    expect(error).toBeInstanceOf(BoughError);
    expect(error.name).toBe("PortInUseError");
    expect(error.code).toBe("BOUGH_SOURCES_PORT_IN_USE");
    expect(error.port).toBe(8001);
    expect(error.host).toBe("127.0.0.1");
    expect(error.message).toBe("UDP port 8001 is already in use on 127.0.0.1");
    expect(error.cause).toBe(cause);
    expect(new PortInUseError(53, undefined).message).toContain("on *");
  });

  it("gives UdpSocketError a stable name and code", () => {
    const error = new UdpSocketError("the UDP socket is closed");
    expect(error).toBeInstanceOf(BoughError);
    expect(error.name).toBe("UdpSocketError");
    expect(error.code).toBe("BOUGH_SOURCES_UDP_SOCKET");
  });

  it("accepts only finite intervals above 0", () => {
    expect(() => checkInterval("f", 0.5)).not.toThrow();
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "5", undefined, null]) {
      expect(() => checkInterval("f", bad)).toThrow(TypeError);
    }
    expect(() => checkInterval("f", "5")).toThrow(
      'f: intervalMs must be a finite number of milliseconds > 0, got "5"',
    );
  });
});
