import { run } from "effection";
import { describe, expect, it } from "vitest";
import { createCounters } from "../../src/inspect/counters.js";
import { createLineBuffer } from "../../src/inspect/line-buffer.js";
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
});
