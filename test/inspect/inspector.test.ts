import { Console } from "node:console";
import { run, sleep, spawn, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { label } from "../../src/core/labels.js";
import { useInspector } from "../../src/inspect/inspector.js";
import type { InspectorSnapshot } from "../../src/inspect/snapshot.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { quietStdioEachTest } from "../helpers/quiet-stdio.js";
import { httpRequest, useTestServer } from "./http-helpers.js";

checkLeaksAfterEach();
quietStdioEachTest();

// vitest swaps the global console for its own; a real one writes through process.stdout.write
const console = new Console({ stdout: process.stdout, stderr: process.stderr });

const names = (snapshot: InspectorSnapshot, root: string) =>
  snapshot.tree.children
    .find((c) => c.name === root)
    ?.children.map((c) => c.name)
    .sort();

describe("useInspector", () => {
  it("captures the last lines of stdout and stderr and restores both when the scope ends", async () => {
    const stdoutWrite = process.stdout.write;
    const stderrWrite = process.stderr.write;
    await run(function* () {
      const inspector = yield* useInspector({ capture: { lines: 3 } });
      for (let i = 1; i <= 5; i++) process.stdout.write(`inspector out ${i}\n`);
      console.error("inspector err");
      process.stdout.write("held until its newline");
      expect(inspector.lines("stdout")).toEqual([
        "inspector out 3",
        "inspector out 4",
        "inspector out 5",
      ]);
      expect(inspector.lines("stderr")).toEqual(["inspector err"]);
      process.stdout.write("\n");
      expect(inspector.snapshot().stdout.at(-1)).toBe("held until its newline");
    });
    expect(process.stdout.write).toBe(stdoutWrite);
    expect(process.stderr.write).toBe(stderrWrite);
  });

  it("shows labelled tasks in the tree while they run and drops them when they halt", async () => {
    await run(function* () {
      yield* label("inspected app");
      const inspector = yield* useInspector({ capture: false });
      const consumer = yield* spawn(function* () {
        yield* label("consumer");
        yield* spawn(function* () {
          yield* label("handler");
          yield* suspend();
        });
        yield* suspend();
      });
      yield* spawn(function* () {
        yield* label("status server");
        yield* suspend();
      });
      yield* sleep(0);
      const before = inspector.snapshot();
      expect(names(before, "inspected app")).toEqual(["consumer", "status server"]);
      const consumerNode = before.tree.children
        .find((c) => c.name === "inspected app")
        ?.children.find((c) => c.name === "consumer");
      expect(consumerNode?.children.map((c) => c.name)).toEqual(["handler"]);
      yield* consumer.halt();
      expect(names(inspector.snapshot(), "inspected app")).toEqual(["status server"]);
    });
  });

  it("serves counters, lines and the tree as JSON and escaped HTML on a real socket", async () => {
    await run(function* () {
      yield* label("routes app");
      const inspector = yield* useInspector({ capture: { lines: 1000 } });
      const routes = inspector.statusRoutes("/status", { title: "inspected" });
      const { url } = yield* useTestServer((req, res) => {
        if (!routes.handle(req, res)) res.writeHead(404).end();
      });
      inspector.counters.inc("iterations");
      inspector.counters.set("lastError", "row 3: <b>bad</b>");
      console.log("<script>alert('pwned')</script>");
      console.error("an error line");

      const json = JSON.parse((yield* httpRequest(`${url}/status.json`)).body) as InspectorSnapshot;
      expect(json.counters).toEqual({ iterations: 1, lastError: "row 3: <b>bad</b>" });
      expect(json.stdout).toContain("<script>alert('pwned')</script>");
      expect(json.stderr).toContain("an error line");
      expect(json.tree.children.map((c) => c.name)).toContain("routes app");

      const html = (yield* httpRequest(`${url}/status`)).body;
      expect(html).toContain("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;");
      expect(html).toContain("row 3: &lt;b&gt;bad&lt;/b&gt;");
      expect(html).not.toContain("<script>alert");
      expect(html).toContain("routes app");
    });
  });

  it("refuses a capture size that is not a positive integer and leaves the streams alone", async () => {
    const stdoutWrite = process.stdout.write;
    await expect(
      run(function* () {
        yield* useInspector({ capture: { lines: 0 } });
      }),
    ).rejects.toThrow(TypeError);
    expect(process.stdout.write).toBe(stdoutWrite);
  });

  it("captures nothing with capture: false", async () => {
    const stdoutWrite = process.stdout.write;
    await run(function* () {
      const inspector = yield* useInspector({ capture: false });
      expect(process.stdout.write).toBe(stdoutWrite);
      process.stdout.write("not captured\n");
      expect(inspector.lines("stdout")).toEqual([]);
      expect(inspector.snapshot().stdout).toEqual([]);
    });
  });

  it("serves its status page on a server of its own, on 127.0.0.1 and with a token, when asked to", async () => {
    await run(function* () {
      const plain = yield* useInspector({ capture: false });
      expect(plain.url).toBeUndefined();
      const inspector = yield* useInspector({
        capture: false,
        listen: { token: "t0k3n", prefix: "/ops", title: "ops" },
      });
      inspector.counters.set("jobs", 7);
      const url = inspector.url as string;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/ops$/);
      expect((yield* httpRequest(url)).status).toBe(401);
      const json = yield* httpRequest(`${url}.json?token=t0k3n`);
      expect(JSON.parse(json.body).counters.jobs).toBe(7);
      const page = yield* httpRequest(url, "GET", { authorization: "Bearer t0k3n" });
      expect(page.body).toContain("<title>ops");
    });
  });
});
