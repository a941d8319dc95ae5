import { describe, expect, it } from "vitest";
import { BoughError } from "../../src/core/errors.js";
import {
  HttpError,
  isClientGone,
  MalformedJsonError,
  PayloadTooLargeError,
  SlowConsumerError,
  StreamClosedError,
} from "../../src/http/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

describe("http errors", () => {
  it("have stable names, codes and statuses", () => {
    const cases: [BoughError, string, string][] = [
      [new HttpError(409, "conflict"), "HttpError", "BOUGH_HTTP_ERROR"],
      [new PayloadTooLargeError(10), "PayloadTooLargeError", "BOUGH_HTTP_PAYLOAD_TOO_LARGE"],
      [
        new MalformedJsonError("Unexpected token"),
        "MalformedJsonError",
        "BOUGH_HTTP_MALFORMED_JSON",
      ],
      [new StreamClosedError(), "StreamClosedError", "BOUGH_HTTP_STREAM_CLOSED"],
      [new SlowConsumerError(1024), "SlowConsumerError", "BOUGH_HTTP_SLOW_CONSUMER"],
    ];
    for (const [error, name, code] of cases) {
      expect(error).toBeInstanceOf(BoughError);
      expect(error.name).toBe(name);
      expect(error.code).toBe(code);
    }
    expect(new PayloadTooLargeError(10).status).toBe(413);
    expect(new MalformedJsonError("x").status).toBe(400);
    expect(new HttpError(405, "no", { headers: { allow: "GET" } }).headers).toEqual({
      allow: "GET",
    });
  });

  it("tell a client that left from a handler that failed", () => {
    expect(isClientGone(new StreamClosedError())).toBe(true);
    expect(isClientGone(new SlowConsumerError(1))).toBe(true);
    for (const code of [
      "ECONNRESET",
      "EPIPE",
      "ERR_STREAM_DESTROYED",
      "ERR_STREAM_PREMATURE_CLOSE",
    ]) {
      expect(isClientGone(Object.assign(new Error(code), { code }))).toBe(true);
    }
    expect(isClientGone(new Error("kaboom"))).toBe(false);
    expect(isClientGone(new HttpError(400, "bad"))).toBe(false);
    expect(isClientGone(Object.assign(new Error("x"), { code: "ENOENT" }))).toBe(false);
    expect(isClientGone(undefined)).toBe(false);
  });
});
