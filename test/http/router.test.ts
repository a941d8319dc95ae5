import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Operation, run, type Stream, sleep, suspend, until } from "effection";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { createRouter, json, ndjson, sse, text, useServer } from "../../src/http/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { request } from "./helpers.js";

checkLeaksAfterEach();

/** Gives the event loop turns until `done()` holds (bounded): for counts that move when a socket closes. */
function* eventually(done: () => boolean): Operation<void> {
  for (let turn = 0; !done() && turn < 10_000; turn++) {
    yield* until(new Promise((resolve) => setImmediate(resolve)));
  }
}

describe("createRouter", () => {
  it("counts the requests and WebSockets in flight on each route, a HEAD on its GET route", async () => {
    await run(function* () {
      let release = () => {};
      const router = createRouter()
        .get("/wait", function* () {
          yield* until(new Promise<void>((resolve) => (release = resolve)));
          return json("released");
        })
        .ws("/ws/:room", function* () {
          yield* suspend();
        });
      const server = yield* useServer({ handler: router });
      expect(router.openRoutes?.()).toEqual({});
      const waiting = request(`${server.url}/wait`);
      const sockets = [1, 2].map(() => new WebSocket(`${server.url.replace("http", "ws")}/ws/a`));
      yield* eventually(() => router.openRoutes?.()["WS /ws/:room"] === 2);
      yield* eventually(() => router.openRoutes?.()["GET /wait"] === 1);
      expect(router.openRoutes?.()).toEqual({ "GET /wait": 1, "WS /ws/:room": 2 });
      release();
      expect((yield* until(waiting)).status).toBe(200);
      const head = request(`${server.url}/wait`, { method: "HEAD" });
      yield* eventually(() => router.openRoutes?.()["GET /wait"] === 1);
      release();
      yield* until(head);
      for (const socket of sockets) socket.close();
      yield* eventually(() => Object.keys(router.openRoutes?.() ?? {}).length === 0);
      expect(router.openRoutes?.()).toEqual({});
    });
  });

  it("routes by method and path, with params and query", async () => {
    await run(function* () {
      const router = createRouter()
        .get("/jobs/:id", function* (ctx) {
          return json({ id: ctx.params.id, page: ctx.query.page, path: ctx.path });
        })
        .post("/jobs", function* (ctx) {
          return json({ created: yield* ctx.json() }, 201);
        })
        .put("/jobs/:id", function* () {
          return json("put");
        })
        .delete("/jobs/:id", function* () {
          return json("deleted");
        });
      const server = yield* useServer({ handler: router });
      const got = yield* until(request(`${server.url}/jobs/42?page=3`));
      expect(JSON.parse(got.body)).toEqual({ id: "42", page: "3", path: "/jobs/42" });
      const posted = yield* until(
        request(`${server.url}/jobs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"n":1}',
        }),
      );
      expect(posted.status).toBe(201);
      expect(JSON.parse(posted.body)).toEqual({ created: { n: 1 } });
      const put = yield* until(request(`${server.url}/jobs/1`, { method: "PUT" }));
      expect(JSON.parse(put.body)).toBe("put");
      const del = yield* until(request(`${server.url}/jobs/1`, { method: "DELETE" }));
      expect(JSON.parse(del.body)).toBe("deleted");
    });
  });

  it("answers 404 for an unknown route and 405 with Allow for a wrong method", async () => {
    await run(function* () {
      const router = createRouter()
        .get("/things", function* () {
          return json([]);
        })
        .post("/things", function* () {
          return json("made");
        });
      const server = yield* useServer({ handler: router });
      const missing = yield* until(request(`${server.url}/nowhere`));
      expect(missing.status).toBe(404);
      expect(JSON.parse(missing.body)).toEqual({ error: "not found" });
      const wrong = yield* until(request(`${server.url}/things`, { method: "DELETE" }));
      expect(wrong.status).toBe(405);
      expect(wrong.headers.allow).toBe("GET, POST, HEAD");
      expect(JSON.parse(wrong.body).error).toContain("DELETE");
    });
  });

  it("serves static files under a prefix and refuses paths that escape the directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bough-static-"));
    writeFileSync(join(dir, "index.html"), "<h1>home</h1>");
    writeFileSync(join(dir, "app.js"), "console.log(1)");
    try {
      await run(function* () {
        const router = createRouter().static("/public", dir);
        const server = yield* useServer({ handler: router });
        const js = yield* until(request(`${server.url}/public/app.js`));
        expect(js.status).toBe(200);
        expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
        expect(js.body).toBe("console.log(1)");
        const index = yield* until(request(`${server.url}/public/`));
        expect(index.body).toBe("<h1>home</h1>");
        const escaping = yield* until(request(`${server.url}/public/..%2F..%2Fetc%2Fpasswd`));
        expect(escaping.status).toBe(404);
        const missing = yield* until(request(`${server.url}/public/nope.css`));
        expect(missing.status).toBe(404);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("answers HEAD on every GET route with the GET status and headers and no body", async () => {
    await run(function* () {
      const never: Stream<string, never> = {
        *[Symbol.iterator]() {
          return { next: () => suspend() as Operation<never> };
        },
      };
      const router = createRouter()
        .get("/json/:id", function* (ctx) {
          return json({ id: ctx.params.id });
        })
        .get("/text", function* () {
          yield* sleep(1);
          return text("hello", 201);
        })
        .get("/sse", function* () {
          return sse(never);
        })
        .get("/ndjson", function* () {
          return ndjson(never);
        })
        .post("/only-post", function* () {
          return json("posted");
        });
      const server = yield* useServer({ handler: router });
      const get = yield* until(request(`${server.url}/json/7`));
      const head = yield* until(request(`${server.url}/json/7`, { method: "HEAD" }));
      expect([head.status, head.body]).toEqual([200, ""]);
      expect(head.headers["content-type"]).toBe(get.headers["content-type"]);
      expect(head.headers["content-length"]).toBe(get.headers["content-length"]);
      const slow = yield* until(request(`${server.url}/text`, { method: "HEAD" }));
      expect([slow.status, slow.body, slow.headers["content-length"]]).toEqual([201, "", "5"]);
      const events = yield* until(request(`${server.url}/sse`, { method: "HEAD" }));
      expect([events.status, events.body, events.headers["content-type"]]).toEqual([
        200,
        "",
        "text/event-stream",
      ]);
      const lines = yield* until(request(`${server.url}/ndjson`, { method: "HEAD" }));
      expect([lines.status, lines.body]).toEqual([200, ""]);
      const post = yield* until(request(`${server.url}/only-post`, { method: "HEAD" }));
      expect([post.status, post.headers.allow]).toEqual([405, "POST"]);
      expect(server.active).toBe(0);
    });
  });
});
