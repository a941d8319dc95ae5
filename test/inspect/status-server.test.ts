import { run } from "effection";
import { describe, expect, it } from "vitest";
import { createCounters } from "../../src/inspect/counters.js";
import { takeSnapshot } from "../../src/inspect/snapshot.js";
import { createStatusRoutes } from "../../src/inspect/status-routes.js";
import { useStatusServer } from "../../src/inspect/status-server.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { httpRequest } from "./http-helpers.js";

checkLeaksAfterEach();

describe("useStatusServer", () => {
  it("serves the status routes on 127.0.0.1 by default, 404 elsewhere, and closes with the scope", async () => {
    const counters = createCounters();
    counters.set("answer", 42);
    const routes = createStatusRoutes(() => takeSnapshot(counters));
    let url = "";
    await run(function* () {
      const status = yield* useStatusServer(routes);
      url = status.url;
      expect(status.url).toBe(`http://127.0.0.1:${status.port}/status`);
      const json = yield* httpRequest(`http://127.0.0.1:${status.port}/status.json`);
      expect(JSON.parse(json.body).counters.answer).toBe(42);
      expect((yield* httpRequest(status.url)).body).toMatch(/^<!doctype html>/);
      expect((yield* httpRequest(`http://127.0.0.1:${status.port}/other`)).status).toBe(404);
    });
    const after = run(() => httpRequest(url));
    await expect(after).rejects.toThrow(/ECONNREFUSED/);
  });
});
