import { run, until } from "effection";
import { describe, expect, it } from "vitest";
import { createRouter, json, useServer } from "../../src/http/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { rawConnect, request } from "./helpers.js";

checkLeaksAfterEach();

function echoRouter() {
  let bodiesRead = 0;
  const router = createRouter()
    .post("/echo", function* (ctx) {
      const body = yield* ctx.json();
      bodiesRead++;
      return json({ body });
    })
    .get("/info", function* (ctx) {
      return json({
        method: ctx.method,
        href: ctx.url.href,
        query: ctx.query,
        lastEventId: ctx.lastEventId ?? null,
        aborted: ctx.signal.aborted,
      });
    })
    .post("/text", function* (ctx) {
      const first = yield* ctx.text();
      const again = yield* ctx.text();
      return json({ first, again });
    });
  return { router, bodiesRead: () => bodiesRead };
}

describe("RequestContext", () => {
  it("exposes the method, URL, query, Last-Event-ID and a live AbortSignal", async () => {
    await run(function* () {
      const server = yield* useServer({ handler: echoRouter().router });
      const res = yield* until(
        request(`${server.url}/info?a=1&b=two`, { headers: { "last-event-id": "17-0" } }),
      );
      expect(JSON.parse(res.body)).toEqual({
        method: "GET",
        href: `${server.url}/info?a=1&b=two`,
        query: { a: "1", b: "two" },
        lastEventId: "17-0",
        aborted: false,
      });
    });
  });

  it("reads a JSON body once and caches it", async () => {
    await run(function* () {
      const server = yield* useServer({ handler: echoRouter().router });
      const res = yield* until(request(`${server.url}/text`, { method: "POST", body: "héllo" }));
      expect(JSON.parse(res.body)).toEqual({ first: "héllo", again: "héllo" });
    });
  });

  it("answers malformed JSON with 400 naming the problem", async () => {
    await run(function* () {
      const server = yield* useServer({ handler: echoRouter().router });
      const bad = yield* until(
        request(`${server.url}/echo`, { method: "POST", body: '{"a": tru' }),
      );
      expect(bad.status).toBe(400);
      const message = JSON.parse(bad.body).error as string;
      expect(message).toMatch(/^malformed JSON body: /);
      expect(message.length).toBeGreaterThan("malformed JSON body: ".length);
      const empty = yield* until(request(`${server.url}/echo`, { method: "POST" }));
      expect(empty.status).toBe(400);
      expect(JSON.parse(empty.body).error).toBe("malformed JSON body: empty body");
    });
  });

  it("answers 413 to a declared oversize body at once, without reading it", async () => {
    const { router, bodiesRead } = echoRouter();
    await run(function* () {
      const server = yield* useServer({ handler: router, maxBodyBytes: 1000 });
      const socket = yield* until(rawConnect(server.port));
      let received = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => {
        received += chunk;
      });
      socket.on("error", () => {});
      const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
      // declares 100 MB, sends only 2 KB of it, then waits for the answer
      socket.write(
        "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 104857600\r\n\r\n",
      );
      socket.write("x".repeat(2048));
      yield* until(closed);
      expect(received).toMatch(/^HTTP\/1\.1 413 /);
      expect(received.toLowerCase()).toContain("connection: close");
      expect(received).toContain('{"error":"request body is larger than 1000 bytes"}');
      expect(bodiesRead()).toBe(0);
    });
  });

  it("answers 413 when a chunked body grows past the limit", async () => {
    await run(function* () {
      const server = yield* useServer({ handler: echoRouter().router, maxBodyBytes: 1000 });
      const socket = yield* until(rawConnect(server.port));
      let received = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => {
        received += chunk;
      });
      socket.on("error", () => {});
      const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
      socket.write("POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n");
      socket.write(`600\r\n${"y".repeat(0x600)}\r\n`);
      yield* until(closed);
      expect(received).toMatch(/^HTTP\/1\.1 413 /);
    });
  });
});
