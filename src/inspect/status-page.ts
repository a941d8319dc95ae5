import { createHash } from "node:crypto";
import type { LabelTree } from "../core/labels.js";
import type { InspectorSnapshot } from "./snapshot.js";

/** Options of {@link renderStatusPage}. */
export interface StatusPageOptions {
  /** The page's title and heading. Default `"status"`. */
  title?: string;
  /**
   * How often the open page refreshes itself, in milliseconds; `0` turns
   * refreshing off. Default 2000. With JavaScript the page fetches itself and
   * swaps its content in place (log panes keep their scroll position); without
   * it, a `<meta http-equiv="refresh">` reloads it.
   */
  refreshMs?: number;
}

/*
 * The page's only script: refetch the page, swap #status in place. It is a
 * constant (the interval comes from a data attribute), so its hash, and the
 * Content-Security-Policy below, are constants too. Text only ever reaches
 * the DOM through the server's escaped HTML, parsed inertly by DOMParser.
 */
const SCRIPT = `(function () {
  var ms = Number(document.body.getAttribute("data-refresh-ms"));
  if (!(ms > 0)) return;
  var state = document.getElementById("state");
  function scrolls() {
    var kept = {};
    document.querySelectorAll("pre[id]").forEach(function (pre) {
      kept[pre.id] = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 8 ? -1 : pre.scrollTop;
    });
    return kept;
  }
  function tick() {
    fetch(location.href, { cache: "no-store", headers: { accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("status");
        var current = document.getElementById("status");
        if (!next || !current) return;
        var kept = scrolls();
        current.replaceWith(document.adoptNode(next));
        document.querySelectorAll("pre[id]").forEach(function (pre) {
          var top = kept[pre.id];
          pre.scrollTop = top === undefined || top < 0 ? pre.scrollHeight : top;
        });
        state.textContent = "live";
      })
      .catch(function (error) {
        state.textContent = "unreachable (" + error.message + "), retrying";
      })
      .then(function () {
        setTimeout(tick, ms);
      });
  }
  document.querySelectorAll("pre[id]").forEach(function (pre) { pre.scrollTop = pre.scrollHeight; });
  setTimeout(tick, ms);
})();`;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; margin: 0 0 .2em; } h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
.meta, #state { color: #666; } table { border-collapse: collapse; }
td, th { padding: .15em .8em .15em 0; text-align: left; vertical-align: top; }
td.v { font-family: ui-monospace, monospace; white-space: pre-wrap; }
ul.tree, ul.tree ul { list-style: none; padding-left: 1.2em; margin: 0; }
ul.tree li::before { content: "└ "; color: #999; } .since { color: #888; font-size: .85em; }
pre { background: #fff; border: 1px solid #ddd; padding: .5em; max-height: 24em; overflow: auto;
  white-space: pre-wrap; word-break: break-all; margin: 0; }
pre#stderr { border-color: #e3b4b4; } .empty { color: #999; font-style: italic; }
`;

/**
 * The Content-Security-Policy that {@link renderStatusPage}'s pages are served
 * with: no external resource, inline style, and only the page's own script
 * (by hash), which may fetch the page again from the same origin.
 *
 * @example
 * ```ts
 * res.setHeader("content-security-policy", STATUS_PAGE_CSP);
 * res.end(renderStatusPage(inspector.snapshot()));
 * ```
 */
export const STATUS_PAGE_CSP = `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${createHash("sha256").update(SCRIPT).digest("base64")}'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

/**
 * Renders an {@link InspectorSnapshot} as a self-contained HTML page (no
 * external files): process facts, counters, the live labelled task tree, and
 * the captured stdout and stderr lines. Every piece of text is HTML-escaped,
 * so captured output such as `<script>` shows as text. The page refreshes
 * itself every `refreshMs`.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * const server = createServer((req, res) => {
 *   res.setHeader("content-type", "text/html; charset=utf-8");
 *   res.end(renderStatusPage(inspector.snapshot(), { title: "mq consumer" }));
 * });
 * ```
 */
export function renderStatusPage(
  snapshot: InspectorSnapshot,
  options: StatusPageOptions = {},
): string {
  const { title = "status", refreshMs = 2000 } = options;
  const refresh = Number.isFinite(refreshMs) && refreshMs > 0 ? Math.round(refreshMs) : 0;
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const counters = Object.entries(snapshot.counters);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
${refresh ? `<noscript><meta http-equiv="refresh" content="${Math.max(1, Math.round(refresh / 1000))}"></noscript>` : ""}
<style>${STYLE}</style>
</head>
<body data-refresh-ms="${refresh}">
<h1>${escapeHtml(title)}</h1>
<div class="meta">${refresh ? `refreshing every ${refresh} ms · <span id="state">live</span>` : `<span id="state">not refreshing</span>`}</div>
<main id="status">
<p class="meta">pid ${snapshot.pid} · up ${escapeHtml(formatDuration(snapshot.uptimeMs))} · rss ${mb(snapshot.memory.rss)} · heap ${mb(snapshot.memory.heapUsed)} / ${mb(snapshot.memory.heapTotal)} · at ${escapeHtml(snapshot.time)}</p>
<h2>Counters</h2>
${
  counters.length === 0
    ? `<p class="empty">no counters yet</p>`
    : `<table id="counters">${counters
        .map(
          ([name, value]) =>
            `<tr><th>${escapeHtml(name)}</th><td class="v">${escapeHtml(value === null ? "–" : String(value))}</td></tr>`,
        )
        .join("")}</table>`
}
<h2>Tasks</h2>
${snapshot.tree.children.length === 0 ? `<p class="empty">no labelled task is running</p>` : `<ul class="tree" id="tree">${snapshot.tree.children.map(renderNode).join("")}</ul>`}
${renderLines("stdout", snapshot.stdout)}
${renderLines("stderr", snapshot.stderr)}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

function renderNode(node: LabelTree): string {
  const children = node.children.length ? `<ul>${node.children.map(renderNode).join("")}</ul>` : "";
  return `<li>${escapeHtml(node.name)} <span class="since">since ${escapeHtml(node.startedAt)}</span>${children}</li>`;
}

function renderLines(name: string, lines: string[]): string {
  const body = lines.length
    ? `<pre id="${name}">${lines.map(escapeHtml).join("\n")}</pre>`
    : `<p class="empty">nothing written to ${name} yet</p>`;
  return `<h2>${name} <span class="since">(last ${lines.length} lines)</span></h2>\n${body}`;
}

/**
 * Escapes `&`, `<`, `>`, `"` and `'` so that any text is safe inside HTML
 * element content and quoted attributes.
 *
 * @example
 * ```ts
 * escapeHtml('<script>alert("x")</script>'); // "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts = [d && `${d}d`, (d || h) && `${h}h`, (d || h || m) && `${m}m`, `${s % 60}s`];
  return parts.filter(Boolean).join(" ");
}
