import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { InspectorSnapshot } from "../../src/inspect/snapshot.js";
import { escapeHtml, renderStatusPage, STATUS_PAGE_CSP } from "../../src/inspect/status-page.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

const snapshot = (over: Partial<InspectorSnapshot> = {}): InspectorSnapshot => ({
  pid: 42,
  time: "2026-11-25T10:00:00.000Z",
  uptimeMs: 3_723_000,
  memory: { rss: 50e6, heapTotal: 20e6, heapUsed: 10e6, external: 1e6, arrayBuffers: 1e5 },
  counters: { iterations: 7, lastError: null },
  tree: {
    id: 0,
    name: "process",
    kind: "task",
    state: "running",
    attributes: {},
    startedAt: "2026-11-25T09:00:00.000Z",
    children: [
      {
        id: 1,
        name: "consumer",
        kind: "task",
        state: "running",
        attributes: {},
        startedAt: "2026-11-25T09:00:01.000Z",
        children: [
          {
            id: 2,
            name: "poll",
            kind: "task",
            state: "running",
            attributes: {},
            startedAt: "2026-11-25T09:00:02.000Z",
            children: [],
          },
        ],
      },
    ],
  },
  stdout: ["processed row 1", "processed row 2"],
  stderr: ["row 3 failed"],
  failures: [],
  series: {},
  panels: [],
  ...over,
});

describe("renderStatusPage", () => {
  it("shows process facts, counters, the task tree and both streams", () => {
    const html = renderStatusPage(snapshot(), { title: "mq consumer" });
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain("<title>mq consumer</title>");
    expect(html).toContain("pid 42 · up 1h 2m 3s");
    expect(html).toContain('<tr><th>iterations</th><td class="v">7</td></tr>');
    expect(html).toMatch(/<li>consumer .*<ul><li>poll /);
    expect(html).toContain("processed row 1\nprocessed row 2</pre>");
    expect(html).toContain('<pre class="lines" id="stderr">row 3 failed</pre>');
  });

  it("shows each panel's values, named numbers on one line and an empty set as a dash", () => {
    const html = renderStatusPage(
      snapshot({
        panels: [
          {
            id: 1,
            kind: "http",
            name: "http://127.0.0.1:8080",
            path: ["app"],
            values: { open: 3, routes: { "GET /events": 2, "WS /ws/:room": 1 } },
          },
          {
            id: 2,
            kind: "hub",
            name: "jobs",
            path: ["app"],
            values: { subscribers: 2, lag: { max: 6, total: 9, behind: 2 }, dropped: {} },
          },
          {
            id: 3,
            kind: "source",
            name: "ticker every 100 ms",
            path: ["app"],
            values: { missed: "skip", ticks: 4, missedTicks: 2 },
          },
        ],
      }),
    );
    const row = (k: string, v: string) => `<tr><th>${k}</th><td class="v">${v}</td></tr>`;
    expect(html).toContain("<caption>http http://127.0.0.1:8080</caption>");
    expect(html).toContain(row("routes", "GET /events 2 · WS /ws/:room 1"));
    expect(html).toContain(row("lag", "max 6 · total 9 · behind 2"));
    expect(html).toContain(row("dropped", "–"));
    expect(html).toContain("<caption>source ticker every 100 ms</caption>");
    expect(html).toContain(row("missedTicks", "2"));
  });

  it("escapes every piece of captured text, so a <script> line shows as text", () => {
    const evil = `<script>alert("x")</script> & 'quotes'`;
    const html = renderStatusPage(
      snapshot({
        stdout: [evil],
        stderr: [evil],
        counters: { [evil]: evil },
        tree: {
          id: 0,
          name: "process",
          kind: "process",
          state: "running",
          attributes: {},
          startedAt: evil,
          children: [],
        },
      }),
      { title: evil },
    );
    expect(html).not.toContain("<script>alert");
    expect(html.match(/<script>/g)).toHaveLength(1); // the page's own script only
    expect(html).toContain(
      "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;",
    );
  });

  it("refreshes itself unless refreshMs is 0, and needs nothing from outside", () => {
    const live = renderStatusPage(snapshot(), { refreshMs: 500 });
    expect(live).toContain('data-refresh-ms="500"');
    expect(live).toContain('<noscript><meta http-equiv="refresh" content="1"></noscript>');
    const still = renderStatusPage(snapshot(), { refreshMs: 0 });
    expect(still).toContain('data-refresh-ms="0"');
    expect(still).not.toContain("http-equiv");
    // the SVG namespace of the sparklines is a name, not something fetched
    expect(live.replaceAll("http://www.w3.org/2000/svg", "")).not.toMatch(
      /<(link|img)\b|src=|https?:\/\//,
    );
  });

  it("says so when there is nothing to show yet", () => {
    const html = renderStatusPage(
      snapshot({
        counters: {},
        stdout: [],
        stderr: [],
        tree: { ...snapshot().tree, children: [] },
      }),
    );
    expect(html).toContain("no counters yet");
    expect(html).toContain("no labelled task is running");
    expect(html).toContain("nothing written to stdout yet");
  });

  it("allows only its own script by hash", () => {
    const html = renderStatusPage(snapshot());
    const script = html.match(/<script>([\s\S]*)<\/script>/)?.[1] ?? "";
    const hash = createHash("sha256").update(script).digest("base64");
    expect(STATUS_PAGE_CSP).toContain(`script-src 'sha256-${hash}'`);
    expect(STATUS_PAGE_CSP).toContain("default-src 'none'");
  });
});

describe("escapeHtml", () => {
  it("escapes the five HTML-special characters and nothing else", () => {
    expect(escapeHtml(`<a href="x">'&'</a> é`)).toBe(
      "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt; é",
    );
  });
});
