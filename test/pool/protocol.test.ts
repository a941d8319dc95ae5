import { describe, expect, it } from "vitest";
import { ProtocolError, SerializationError } from "../../src/pool/index.js";
import {
  checkClientFrame,
  checkHelloFrame,
  checkWorkerFrame,
  createFrameDecoder,
  encodeFrame,
  isRefusalFrame,
  packClientFrame,
  packWorkerFrame,
  unpackClientFrame,
  unpackWorkerFrame,
} from "../../src/pool/protocol.js";

describe("protocol", () => {
  it("encodes frames as newline-delimited JSON", () => {
    expect(encodeFrame(["do", {}, "hash", ["secret"]])).toBe('["do",{},"hash",["secret"]]\n');
    expect(encodeFrame(["dn", {}])).toBe('["dn",{}]\n');
    expect(encodeFrame(["ok", {}, 1])).toBe('["ok",{},1]\n');
  });

  it("refuses values JSON cannot carry instead of dropping them", () => {
    expect(() => encodeFrame(["do", {}, "f", [() => 1]])).toThrow(SerializationError);
    expect(() => encodeFrame(["do", {}, "f", [1n]])).toThrow(SerializationError);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => encodeFrame(["do", {}, "f", [cycle]])).toThrow(/arguments of "f"/);
  });

  it("decodes frames split across chunks and several frames in one chunk", () => {
    const decoder = createFrameDecoder();
    expect(decoder.push('["ok",{},')).toEqual([]);
    expect(decoder.push('1]\n["ok",{},2]\n\n["dn"')).toEqual([
      ["ok", {}, 1],
      ["ok", {}, 2],
    ]);
    expect(decoder.push(",{}]\n")).toEqual([["dn", {}]]);
    expect(decoder.push('["ok",{},3]\n')).toEqual([["ok", {}, 3]]);
    expect(decoder.push("  \n")).toEqual([]);
  });

  it("throws a ProtocolError on garbage or an oversized frame", () => {
    expect(() => createFrameDecoder().push("\u0000garbage\n")).toThrow(ProtocolError);
    expect(() => createFrameDecoder(10).push("x".repeat(11))).toThrow(/larger than 10 bytes/);
  });

  it("checks the shape of client and worker frames", () => {
    expect(checkClientFrame(["do", {}, "m", [1]])).toEqual(["do", {}, "m", [1]]);
    expect(checkClientFrame(["do", {}, null, []])).toEqual(["do", {}, null, []]);
    expect(checkClientFrame(["dn", {}])).toEqual(["dn", {}]);
    expect(checkClientFrame(["do", { name: "n" }, "m", []])).toEqual([
      "do",
      { name: "n" },
      "m",
      [],
    ]);
    for (const bad of [
      ["do", {}, "m"],
      ["do", [], "m", []],
      ["do", {}, 5, []],
      ["do", { traceparent: 1 }, "m", []],
      ["do", { name: {} }, "m", []],
      ["ok", {}, 1],
      "do",
      null,
    ]) {
      expect(() => checkClientFrame(bad)).toThrow(ProtocolError);
    }
    expect(checkWorkerFrame(["er", {}, { name: "E", message: "m" }])[0]).toBe("er");
    expect(checkWorkerFrame(["rd", { pid: 1, threadId: 0 }])[0]).toBe("rd");
    expect(() => checkWorkerFrame(["er", {}, "string"])).toThrow(ProtocolError);
    expect(() => checkWorkerFrame(["do", {}, "m", []])).toThrow(ProtocolError);
  });

  it("accepts a hello frame with or without a token, and knows a refusal frame", () => {
    expect(checkHelloFrame(["hi", {}])).toEqual(["hi", {}]);
    expect(checkHelloFrame(["hi", { token: "t" }])).toEqual(["hi", { token: "t" }]);
    expect(() => checkHelloFrame(["hi", { token: 1 }])).toThrow(/malformed hello frame/);
    expect(() => checkHelloFrame(["do", {}, "x", []])).toThrow(ProtocolError);
    expect(isRefusalFrame(["no", { reason: "busy", message: "full" }])).toBe(true);
    expect(isRefusalFrame(["no", { reason: "other", message: "?" }])).toBe(false);
    expect(encodeFrame(["no", { reason: "busy", message: "full" }])).toBe(
      '["no",{"reason":"busy","message":"full"}]\n',
    );
  });

  it("accepts a client name of up to 200 characters in the hello frame", () => {
    expect(checkHelloFrame(["hi", { name: "billing" }])).toEqual(["hi", { name: "billing" }]);
    expect(() => checkHelloFrame(["hi", { name: 7 }])).toThrow(/malformed hello frame/);
    expect(() => checkHelloFrame(["hi", { name: "x".repeat(201) }])).toThrow(ProtocolError);
  });

  it("packs frames compactly for local workers and unpacks them unchanged", () => {
    expect(packClientFrame(["do", {}, "inc", [1, 2]])).toEqual([1, 2, "inc"]);
    expect(unpackClientFrame([1, 2, "inc"])).toEqual(["do", {}, "inc", [1, 2]]);
    expect(unpackClientFrame(packClientFrame(["do", {}, null, []]))).toEqual(["do", {}, null, []]);
    expect(unpackClientFrame(packClientFrame(["dn", {}]))).toEqual(["dn", {}]);
    const meta = {
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      name: "n",
    };
    expect(unpackClientFrame(packClientFrame(["do", meta, "inc", [1]]))).toEqual([
      "do",
      meta,
      "inc",
      [1],
    ]);
    const log = { start: 1, logs: [], timers: {} };
    for (const frame of [
      ["ok", {}, 2],
      ["ok", { log }, [2]],
      ["er", {}, { name: "E", message: "m" }],
      ["er", { log }, { name: "E", message: "m" }],
      ["rd", { pid: 1, threadId: 2, done: true }],
    ] as const) {
      expect(unpackWorkerFrame(packWorkerFrame(frame as never))).toEqual(frame);
    }
  });
});
