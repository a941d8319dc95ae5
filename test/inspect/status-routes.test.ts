import { request } from "node:http";
import { run, until } from "effection";
import { describe, expect, it } from "vitest";
import { createCounters } from "../../src/inspect/counters.js";
import { createLineBuffer } from "../../src/inspect/line-buffer.js";
import { createLiveFeed } from "../../src/inspect/live-feed.js";
import { type InspectorSnapshot, takeSnapshot } from "../../src/inspect/snapshot.js";
import { createStatusRoutes, type StatusRoutes } from "../../src/inspect/status-routes.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { httpRequest, useTestServer } from "./http-helpers.js";

checkLeaksAfterEach();

function fixture() {
  const counters = createCounters();
  counters.inc("iterations", 3);
  const stdout = createLineBuffer({ lines: 10 });
  stdout.write("hello\n<script>alert(1)</script>\n");
  return () => takeSnapshot(counters, stdout);
}

/** Serves `routes` (404 for anything else) on a real socket and runs `body` against it. */
function serve(routes: StatusRoutes, body: (url: string) => Generator<any, void, any>) {
  return run(function* () {
    const { url } = yield* useTestServer((req, res) => {
      if (routes.handle(req, res)) return;
      res.writeHead(404).end("not mine");
    });
    yield* body(url);
  });
}

describe("createStatusRoutes", () => {
  it("answers JSON at prefix.json and prefix/json over a real socket", async () => {
    const routes = createStatusRoutes(fixture());
    expect([routes.htmlPath, routes.jsonPath]).toEqual(["/status", "/status.json"]);
    await serve(routes, function* (url) {
      for (const path of ["/status.json", "/status/json", "/status.json?pretty"]) {
        const res = yield* httpRequest(url + path);
        expect(res.status).toBe(200);
        expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
        expect(res.headers["cache-control"]).toBe("no-store");
        const snapshot = JSON.parse(res.body) as InspectorSnapshot;
        expect(snapshot.counters).toEqual({ iterations: 3 });
        expect(snapshot.stdout).toEqual(["hello", "<script>alert(1)</script>"]);
        expect(snapshot.pid).toBe(process.pid);
      }
      expect((yield* httpRequest(`${url}/status.json?pretty`)).body).toContain('\n  "pid"');
    });
  });

  it("answers the HTML page at prefix and prefix/, escaping captured lines", async () => {
    await serve(createStatusRoutes(fixture(), { title: "demo" }), function* (url) {
      for (const path of ["/status", "/status/", "/status?x=1"]) {
        const res = yield* httpRequest(url + path);
        expect(res.status).toBe(200);
        expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
        expect(res.headers["content-security-policy"]).toContain("default-src 'none'");
        expect(res.body).toContain("<title>demo</title>");
        expect(res.body).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
        expect(res.body).not.toContain("<script>alert(1)");
      }
    });
  });

  it("leaves other paths to the server and refuses other methods", async () => {
    await serve(createStatusRoutes(fixture(), { prefix: "/admin/status/" }), function* (url) {
      expect((yield* httpRequest(`${url}/admin/status`)).status).toBe(200);
      expect((yield* httpRequest(`${url}/admin/status.json`)).status).toBe(200);
      expect((yield* httpRequest(`${url}/status`)).body).toBe("not mine");
      expect((yield* httpRequest(`${url}/admin/statusx`)).status).toBe(404);
      const post = yield* httpRequest(`${url}/admin/status.json`, "POST");
      expect([post.status, post.headers.allow]).toEqual([405, "GET, HEAD"]);
      const head = yield* httpRequest(`${url}/admin/status`, "HEAD");
      expect([head.status, head.body]).toEqual([200, ""]);
      expect(Number(head.headers["content-length"])).toBeGreaterThan(100);
    });
  });

  it("mounts at the root with prefix /", async () => {
    const routes = createStatusRoutes(fixture(), { prefix: "/" });
    expect([routes.htmlPath, routes.jsonPath]).toEqual(["/", "/json"]);
    await serve(routes, function* (url) {
      expect((yield* httpRequest(`${url}/`)).body).toMatch(/^<!doctype html>/);
      expect(JSON.parse((yield* httpRequest(`${url}/json`)).body).counters.iterations).toBe(3);
    });
  });

  it("answers 500 with the reason when the snapshot fails", async () => {
    const routes = createStatusRoutes(() => {
      throw new Error("no snapshot today");
    });
    await serve(routes, function* (url) {
      const res = yield* httpRequest(`${url}/status.json`);
      expect([res.status, res.body]).toEqual([500, "status snapshot failed: no snapshot today\n"]);
    });
  });

  it("rejects a prefix that is not a path", () => {
    expect(() => createStatusRoutes(fixture(), { prefix: "status" })).toThrow(TypeError);
    expect(() => createStatusRoutes(fixture(), { prefix: "/a?b" })).toThrow(/prefix must be/);
  });

  it("requires the token, as a bearer header or ?token=, when one is given", async () => {
    const routes = createStatusRoutes(fixture(), { token: "s3cret" });
    await serve(routes, function* (url) {
      for (const path of ["/status", "/status.json"]) {
        const refused = yield* httpRequest(url + path);
        expect([refused.status, refused.headers["www-authenticate"]]).toEqual([
          401,
          'Bearer realm="status"',
        ]);
        expect(refused.body).not.toContain("iterations");
        const wrong = yield* httpRequest(url + path, "GET", { authorization: "Bearer s3cre" });
        expect(wrong.status).toBe(401);
        expect((yield* httpRequest(`${url}${path}?token=nope`)).status).toBe(401);
        const bearer = yield* httpRequest(url + path, "GET", { authorization: "Bearer s3cret" });
        expect(bearer.status).toBe(200);
        expect((yield* httpRequest(`${url}${path}?token=s3cret`)).status).toBe(200);
      }
    });
    expect(() => createStatusRoutes(fixture(), { token: "" })).toThrow(/non-empty/);
  });

  it("streams a snapshot and then patches as SSE at prefix/events, with the token", async () => {
    const counters = createCounters();
    const snapshot = () => takeSnapshot(counters);
    const live = createLiveFeed({ snapshot, counters, statsMs: 20 });
    const routes = createStatusRoutes(snapshot, { live, token: "t0ken" });
    expect(routes.eventsPath).toBe("/status/events");
    await serve(routes, function* (url) {
      const refused = yield* httpRequest(`${url}/status/events`);
      expect(refused.status).toBe(401);
      const post = yield* httpRequest(`${url}/status/events?token=t0ken`, "POST");
      expect([post.status, post.headers.allow]).toEqual([405, "GET"]);
      expect(post.headers["cache-control"]).toBe("no-store");
      const page = yield* httpRequest(`${url}/status?token=t0ken`);
      expect(page.body).toContain('data-events="/status/events"');
      counters.inc("iterations", 5);
      const events = yield* until(readEvents(`${url}/status/events?token=t0ken`, 2));
      expect(events[0].event).toBe("snapshot");
      expect(JSON.parse(events[0].data).counters).toEqual({ iterations: 5 });
      expect(events[1].event).toBe("patch");
      expect(JSON.parse(events[1].data).counters).toEqual({ iterations: 5 });
    });
    // the client went away: the feed lets go of it once its socket has closed
    while (live.watchers > 0) await new Promise((r) => setImmediate(r));
    expect(live.watchers).toBe(0);
  });

  it("has no events route without a live feed", async () => {
    const routes = createStatusRoutes(fixture());
    expect(routes.eventsPath).toBeUndefined();
    await serve(routes, function* (url) {
      expect((yield* httpRequest(`${url}/status/events`)).body).toBe("not mine");
      expect((yield* httpRequest(`${url}/status`)).body).not.toContain('data-events="');
    });
    // mounted by hand, the events handler answers 404, not cacheable like every other answer
    await run(function* () {
      const { url } = yield* useTestServer(routes.events);
      const missing = yield* httpRequest(`${url}/anything`);
      expect([missing.status, missing.body]).toEqual([404, "no live feed\n"]);
      expect(missing.headers["cache-control"]).toBe("no-store");
    });
  });
});

/** Reads the first `count` SSE events of `url`, then drops the connection. */
function readEvents(url: string, count: number): Promise<{ event: string; data: string }[]> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      expect(res.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
      let text = "";
      const events: { event: string; data: string }[] = [];
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
        for (let end = text.indexOf("\n\n"); end !== -1; end = text.indexOf("\n\n")) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data !== undefined) events.push({ event, data });
        }
        if (events.length >= count) {
          req.destroy();
          resolve(events);
        }
      });
    });
    req.on("error", reject);
    req.end();
  });
}
