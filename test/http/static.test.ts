import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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
const outside = mkdtempSync(join(tmpdir(), "bough-static-outside-"));
writeFileSync(join(outside, "secret.txt"), "secret");
mkdirSync(join(outside, "private"));
writeFileSync(join(outside, "private", "key.txt"), "key");
writeFileSync(join(dir, "real.txt"), "inside");
mkdirSync(join(dir, "sub"));
writeFileSync(join(dir, "sub", "page.txt"), "page");
symlinkSync(join(outside, "secret.txt"), join(dir, "out-file.txt"));
symlinkSync(join(outside, "private"), join(dir, "out-dir"));
symlinkSync(join(dir, "real.txt"), join(dir, "in-file.txt"));
symlinkSync(join(dir, "sub"), join(dir, "in-dir"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

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

  it("never serves a file or directory link that leads out of the root", async () => {
    await run(function* () {
      for (const links of ["none", "inside"] as const) {
        const server = yield* useServer({ handler: createRouter().static("/", dir, { links }) });
        for (const path of ["/out-file.txt", "/out-dir/key.txt"]) {
          const res = yield* until(request(`${server.url}${path}`));
          expect([links, path, res.status, res.body]).toEqual([
            links,
            path,
            404,
            '{"error":"not found"}',
          ]);
          const head = yield* until(request(`${server.url}${path}`, { method: "HEAD" }));
          expect(head.status).toBe(404);
        }
      }
    });
  });

  it("follows no link by default and links that stay inside the root with links: inside", async () => {
    await run(function* () {
      const strict = yield* useServer({ handler: createRouter().static("/", dir) });
      expect((yield* until(request(`${strict.url}/in-file.txt`))).status).toBe(404);
      expect((yield* until(request(`${strict.url}/in-dir/page.txt`))).status).toBe(404);
      expect((yield* until(request(`${strict.url}/real.txt`))).body).toBe("inside");
      const inside = yield* useServer({
        handler: createRouter().static("/", dir, { links: "inside" }),
      });
      expect((yield* until(request(`${inside.url}/in-file.txt`))).body).toBe("inside");
      expect((yield* until(request(`${inside.url}/in-dir/page.txt`))).body).toBe("page");
    });
  });

  it("checks links created after the server started", async () => {
    await run(function* () {
      const server = yield* useServer({
        handler: createRouter().static("/", dir, { links: "inside" }),
      });
      expect((yield* until(request(`${server.url}/later.txt`))).status).toBe(404);
      symlinkSync(join(outside, "secret.txt"), join(dir, "later.txt"));
      symlinkSync(join(outside, "private"), join(dir, "later-dir"));
      expect((yield* until(request(`${server.url}/later.txt`))).status).toBe(404);
      expect((yield* until(request(`${server.url}/later-dir/key.txt`))).status).toBe(404);
      rmSync(join(dir, "later-dir"));
      symlinkSync(join(dir, "sub"), join(dir, "later-dir"));
      expect((yield* until(request(`${server.url}/later-dir/page.txt`))).body).toBe("page");
    });
  });

  it("serves a root that is itself a link", async () => {
    await run(function* () {
      const linkedRoot = join(outside, "root-link");
      symlinkSync(dir, linkedRoot);
      const server = yield* useServer({ handler: createRouter().static("/", linkedRoot) });
      expect((yield* until(request(`${server.url}/real.txt`))).body).toBe("inside");
      expect((yield* until(request(`${server.url}/out-file.txt`))).status).toBe(404);
    });
  });
});
