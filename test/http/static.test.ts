import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, until } from "effection";
import { afterAll, describe, expect, it } from "vitest";
import { createRouter, serveStatic, useServer } from "../../src/http/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { request } from "./helpers.js";

checkLeaksAfterEach();

const dir = mkdtempSync(join(tmpdir(), "bough-static-"));
mkdirSync(join(dir, "docs"));
writeFileSync(join(dir, "docs", "index.html"), "<p>docs</p>");
writeFileSync(join(dir, "data.bin"), Buffer.alloc(300_000, 7));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("serveStatic", () => {
  it("streams a file with its length and type, and answers HEAD without a body", async () => {
    await run(function* () {
      const router = createRouter().static("/", dir, { cacheControl: "max-age=60" });
      const server = yield* useServer({ handler: router });
      const bin = yield* until(request(`${server.url}/data.bin`));
      expect(bin.status).toBe(200);
      expect(bin.headers["content-length"]).toBe("300000");
      expect(bin.headers["content-type"]).toBe("application/octet-stream");
      expect(bin.headers["cache-control"]).toBe("max-age=60");
      const head = yield* until(request(`${server.url}/data.bin`, { method: "HEAD" }));
      expect(head.status).toBe(200);
      expect(head.body).toBe("");
      const docs = yield* until(request(`${server.url}/docs`));
      expect(docs.body).toBe("<p>docs</p>");
    });
  });

  it("is a plain handler that can be mounted on any wildcard route", async () => {
    await run(function* () {
      const router = createRouter().get("/files/*", serveStatic(dir));
      const server = yield* useServer({ handler: router });
      const docs = yield* until(request(`${server.url}/files/docs/index.html`));
      expect(docs.body).toBe("<p>docs</p>");
      const bad = yield* until(request(`${server.url}/files/%E0%A4%A`));
      expect(bad.status).toBe(400);
    });
  });
});
