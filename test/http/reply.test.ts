import { run, until } from "effection";
import { describe, expect, it } from "vitest";
import { createRouter, error, html, json, text, useServer } from "../../src/http/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { request } from "./helpers.js";

checkLeaksAfterEach();

describe("replies", () => {
  it("build status, type and body", () => {
    expect(json({ a: 1 }, 201)).toMatchObject({
      status: 201,
      headers: { "content-type": "application/json; charset=utf-8" },
      body: '{"a":1}',
    });
    expect(text("hi").headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(html("<b>x</b>", 200, { "x-extra": "1" }).headers).toEqual({
      "content-type": "text/html; charset=utf-8",
      "x-extra": "1",
    });
    expect(error("teapot", 418)).toMatchObject({ status: 418, body: '{"error":"teapot"}' });
  });

  it("are written to the client, and plain values are sent as JSON", async () => {
    await run(function* () {
      const router = createRouter()
        .get("/text", function* () {
          return text("plain", 202);
        })
        .get("/html", function* () {
          return html("<p>x</p>");
        })
        .get("/value", function* () {
          return [1, 2, 3];
        })
        .get("/self", function* (ctx) {
          ctx.response.writeHead(200, { "content-type": "text/csv" });
          ctx.response.write("a,b\n");
        });
      const server = yield* useServer({ handler: router });
      const t = yield* until(request(`${server.url}/text`));
      expect([t.status, t.body]).toEqual([202, "plain"]);
      const h = yield* until(request(`${server.url}/html`));
      expect(h.headers["content-type"]).toBe("text/html; charset=utf-8");
      const v = yield* until(request(`${server.url}/value`));
      expect(JSON.parse(v.body)).toEqual([1, 2, 3]);
      const self = yield* until(request(`${server.url}/self`));
      expect([self.headers["content-type"], self.body]).toEqual(["text/csv", "a,b\n"]);
    });
  });
});
