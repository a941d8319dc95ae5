import { createHash } from "node:crypto";
import type { LabelFailure, LabelTree } from "../core/labels.js";
import type { PanelSnapshot, PanelValue } from "../core/panels.js";
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
  /**
   * The path of the inspector's SSE endpoint (see `createStatusRoutes`); when
   * set, the page receives the tree live (a snapshot, then patches) instead of
   * refreshing, and offers search and collapse/expand. Default: none.
   */
  eventsPath?: string;
  /** How many lines per stream the live page keeps. Default 1000. */
  lines?: number;
}

/*
 * The page's only script. It is a constant (what varies comes from data
 * attributes), so its hash, and the Content-Security-Policy below, are
 * constants too. With an SSE endpoint (data-events) it receives one snapshot
 * and then patches, and builds every node with createElement/textContent:
 * text from the server never reaches innerHTML. Without one, it refetches the
 * page every data-refresh-ms and swaps in the server's escaped markup, parsed
 * inertly by DOMParser.
 */
const SCRIPT = String.raw`(function () {
  var body = document.body;
  var state = document.getElementById("state");
  var ms = Number(body.getAttribute("data-refresh-ms"));
  var events = body.getAttribute("data-events");
  var keep = Number(body.getAttribute("data-lines")) || 1000;
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function box(id) { var b = document.getElementById(id); while (b.firstChild) b.removeChild(b.firstChild); return b; }
  function bottom() {
    document.querySelectorAll("pre.lines").forEach(function (pre) { pre.scrollTop = pre.scrollHeight; });
  }
  bottom();
  if (events && window.EventSource) live(); else if (ms > 0) setTimeout(refresh, ms);

  function refresh() {
    fetch(location.href, { cache: "no-store", headers: { accept: "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("status");
        var current = document.getElementById("status");
        if (!next || !current) return;
        var kept = {};
        document.querySelectorAll("pre[id]").forEach(function (pre) {
          kept[pre.id] = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 8 ? -1 : pre.scrollTop;
        });
        current.replaceWith(document.adoptNode(next));
        document.querySelectorAll("pre[id]").forEach(function (pre) {
          var top = kept[pre.id];
          pre.scrollTop = top === undefined || top < 0 ? pre.scrollHeight : top;
        });
        state.textContent = "live";
      })
      .catch(function (e) { state.textContent = "unreachable (" + e.message + "), retrying"; })
      .then(function () { setTimeout(refresh, ms); });
  }

  function live() {
    var nodes = {}, items = {}, offset = 0, query = "";
    var search = document.getElementById("search");
    var source = new EventSource(events + location.search);
    document.getElementById("mode").textContent = "live over SSE";
    source.onopen = function () { state.textContent = "connected"; };
    source.onerror = function () { state.textContent = "reconnecting"; };
    source.addEventListener("snapshot", function (e) {
      var s = JSON.parse(e.data);
      offset = Date.now() - Date.parse(s.time);
      nodes = {}; items = {};
      box("tasks").appendChild(el("ul", "tree")).id = "tree";
      walk(s.tree, 0);
      facts(s);
      counters(s.counters, s.series);
      panels(s.panels);
      box("failures-box");
      failures(s.failures);
      lines("stdout", s.stdout, true);
      lines("stderr", s.stderr, true);
      body.setAttribute("data-live", "1");
      state.textContent = "live";
      filter();
    });
    source.addEventListener("patch", function (e) {
      var p = JSON.parse(e.data);
      (p.remove || []).forEach(remove);
      (p.upsert || []).forEach(upsert);
      if (p.failures) failures(p.failures);
      if (p.counters) counters(p.counters, p.series);
      if (p.panels) panels(p.panels);
      if (p.stdout) lines("stdout", p.stdout, false);
      if (p.stderr) lines("stderr", p.stderr, false);
      if (p.upsert && query) filter();
    });
    if (search) search.addEventListener("input", function () { query = search.value.trim().toLowerCase(); filter(); });
    setInterval(durations, 1000);

    function walk(n, parentId) {
      (n.children || []).forEach(function (c) {
        upsert({ id: c.id, parentId: parentId, name: c.name, kind: c.kind, state: c.state,
          startedAt: c.startedAt, attributes: c.attributes });
        walk(c, c.id);
      });
    }
    function upsert(n) {
      var li = items[n.id];
      if (!li) {
        li = el("li", "node");
        var row = li.appendChild(el("div", "row"));
        var tog = row.appendChild(el("button", "tog", "▾"));
        tog.type = "button";
        tog.setAttribute("aria-label", "collapse or expand");
        tog.addEventListener("click", function () {
          var closed = li.classList.toggle("collapsed");
          tog.textContent = closed ? "▸" : "▾";
        });
        row.appendChild(el("span", "name"));
        row.appendChild(el("span", "kind"));
        row.appendChild(el("span", "st"));
        row.appendChild(el("span", "dur"));
        row.appendChild(el("span", "attrs"));
        li.appendChild(el("ul"));
        items[n.id] = li;
        var parent = items[n.parentId];
        (parent ? parent.lastChild : document.getElementById("tree")).appendChild(li);
        if (parent) parent.classList.add("has-children");
      }
      nodes[n.id] = n;
      li.setAttribute("data-id", String(n.id));
      li.setAttribute("data-name", n.name);
      li.setAttribute("data-state", n.state);
      var spans = li.firstChild.childNodes;
      spans[1].textContent = n.name;
      spans[2].textContent = n.kind;
      spans[3].textContent = n.state;
      spans[3].className = "st " + n.state;
      spans[4].textContent = age(n.startedAt);
      spans[4].title = "since " + n.startedAt;
      var attrs = Object.keys(n.attributes || {}).map(function (k) { return k + "=" + n.attributes[k]; });
      spans[5].textContent = attrs.join(" ");
    }
    function remove(id) {
      var li = items[id];
      if (!li) return;
      li.querySelectorAll("li[data-id]").forEach(function (c) {
        var cid = c.getAttribute("data-id");
        delete items[cid]; delete nodes[cid];
      });
      delete items[id]; delete nodes[id];
      li.remove();
    }
    function age(startedAt) {
      var s = Math.max(0, (Date.now() - offset - Date.parse(startedAt)) / 1000);
      if (s < 60) return s.toFixed(1) + " s";
      if (s < 3600) return Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
      return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    }
    function durations() {
      Object.keys(nodes).forEach(function (id) {
        var li = items[id];
        if (li) li.firstChild.childNodes[4].textContent = age(nodes[id].startedAt);
      });
    }
    function filter() {
      var all = document.querySelectorAll("#tree li");
      all.forEach(function (li) { li.classList.toggle("hidden", query !== ""); });
      if (!query) return;
      all.forEach(function (li) {
        if ((li.getAttribute("data-name") || "").toLowerCase().indexOf(query) === -1) return;
        for (var p = li; p && p.id !== "tree"; p = p.parentElement) if (p.tagName === "LI") p.classList.remove("hidden");
      });
    }
    function facts(s) {
      var mb = function (b) { return (b / 1048576).toFixed(1) + " MB"; };
      document.getElementById("facts").textContent = "pid " + s.pid + " · rss " + mb(s.memory.rss) +
        " · heap " + mb(s.memory.heapUsed) + " / " + mb(s.memory.heapTotal) + " · connected at " + s.time;
    }
    function counters(values, series) {
      var names = Object.keys(values);
      var b = box("counters-box");
      if (!names.length) { b.appendChild(el("p", "empty", "no counters yet")); return; }
      var table = b.appendChild(el("table"));
      table.id = "counters";
      names.forEach(function (name) {
        var tr = table.appendChild(el("tr"));
        tr.appendChild(el("th", "", name));
        var v = values[name];
        tr.appendChild(el("td", "v", v === null ? "–" : String(v)));
        var td = tr.appendChild(el("td", "spark"));
        if (series && series[name] && series[name].length > 1) td.appendChild(spark(series[name]));
      });
    }
    function panels(list) {
      var b = box("panels-box");
      if (!list || !list.length) { b.appendChild(el("p", "empty", "no pool, hub or server registered a panel")); return; }
      var wrap = b.appendChild(el("div", "panels"));
      wrap.id = "panels";
      list.forEach(function (p) {
        var t = wrap.appendChild(el("table", "panel"));
        t.appendChild(el("caption", "", p.kind + " " + p.name));
        Object.keys(p.values).forEach(function (k) {
          var v = p.values[k];
          var text = v === null ? "–" : typeof v === "object"
            ? Object.keys(v).map(function (n) { return n + " " + v[n]; }).join(" · ") || "–" : String(v);
          var tr = t.appendChild(el("tr"));
          tr.appendChild(el("th", "", k));
          tr.appendChild(el("td", "v", text));
        });
      });
    }
    function spark(values) {
      var ns = "http://www.w3.org/2000/svg", w = 120, h = 20;
      var min = Math.min.apply(null, values), max = Math.max.apply(null, values), span = max - min || 1;
      var svg = document.createElementNS(ns, "svg");
      svg.setAttribute("width", String(w)); svg.setAttribute("height", String(h));
      svg.setAttribute("viewBox", "0 0 " + w + " " + h);
      var line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", values.map(function (v, i) {
        return ((i * w) / (values.length - 1)).toFixed(1) + "," + (h - 1 - ((v - min) * (h - 2)) / span).toFixed(1);
      }).join(" "));
      line.setAttribute("fill", "none"); line.setAttribute("stroke", "#36c"); line.setAttribute("stroke-width", "1.5");
      svg.appendChild(line);
      return svg;
    }
    function failures(list) {
      if (!list || !list.length) {
        if (!document.getElementById("failures")) box("failures-box").appendChild(el("p", "empty", "no failure yet"));
        return;
      }
      var ol = document.getElementById("failures");
      if (!ol) { ol = box("failures-box").appendChild(el("ol", "failures")); ol.id = "failures"; }
      list.forEach(function (f) {
        var li = el("li", "failure");
        var head = li.appendChild(el("div"));
        head.appendChild(el("span", "when", f.failedAt.slice(11, 23)));
        head.appendChild(el("span", "path", f.path.join(" › ")));
        head.appendChild(el("span", "err", f.error + ": " + f.message));
        var d = li.appendChild(el("details"));
        d.appendChild(el("summary", "", "stack"));
        d.appendChild(el("pre", "stack", f.stack));
        ol.insertBefore(li, ol.firstChild);
      });
      while (ol.children.length > 50) ol.removeChild(ol.lastChild);
    }
    function lines(name, list, reset) {
      var pre = document.getElementById(name);
      if (!pre) {
        if (!list.length) return;
        pre = box(name + "-box").appendChild(el("pre", "lines"));
        pre.id = name;
        reset = true;
      }
      var atEnd = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 8;
      var text = (reset ? "" : pre.textContent + (pre.textContent && list.length ? "\n" : "")) + list.join("\n");
      var all = text.split("\n");
      if (all.length > keep) text = all.slice(-keep).join("\n");
      pre.textContent = text;
      if (atEnd || reset) pre.scrollTop = pre.scrollHeight;
    }
  }
})();`;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; margin: 0 0 .2em; } h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
.meta, #state { color: #666; } table { border-collapse: collapse; }
td, th { padding: .15em .8em .15em 0; text-align: left; vertical-align: top; }
td.v { font-family: ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; }
ul.tree, ul.tree ul { list-style: none; padding-left: 1.2em; margin: 0; }
ul.tree { padding-left: 0; } ul.tree li::before { content: "└ "; color: #999; }
body[data-live] ul.tree li::before { content: none; }
.since { color: #888; font-size: .85em; }
.row { display: flex; flex-wrap: wrap; gap: 0 .5em; align-items: baseline; padding: .1em 0; }
.tog { border: 0; background: none; padding: 0; width: 1.2em; color: #888; cursor: pointer; font: inherit; }
li:not(.has-children) > .row > .tog { visibility: hidden; }
li.collapsed > ul, li.hidden { display: none; }
.name { font-weight: 600; } .kind { color: #667; font-size: .85em; border: 1px solid #ccd;
  border-radius: 3px; padding: 0 .3em; } .dur, .attrs { color: #888; font-size: .85em; }
.attrs { font-family: ui-monospace, monospace; word-break: break-all; }
.st { font-size: .85em; } .st.running { color: #187a2f; } .st.halting { color: #b26a00; }
.st.failed { color: #b00020; font-weight: 600; } .st.done { color: #888; }
#search { font: inherit; padding: .2em .4em; margin-left: .6em; max-width: 14em; }
ol.failures { padding-left: 1.2em; margin: 0; } .failure .path { font-weight: 600; margin: 0 .5em; }
.failure .err { color: #b00020; word-break: break-word; } .failure .when { color: #888; font-size: .85em; }
pre { background: #fff; border: 1px solid #ddd; padding: .5em; max-height: 24em; overflow: auto;
  white-space: pre-wrap; word-break: break-all; margin: 0; }
pre#stderr { border-color: #e3b4b4; } pre.stack { font-size: .8em; max-height: 14em; }
.empty { color: #999; font-style: italic; } td.spark svg { display: block; }
.panels { display: flex; flex-wrap: wrap; gap: .6em 1.6em; align-items: flex-start; }
table.panel caption { text-align: left; font-weight: 600; padding-bottom: .2em; }
@media (max-width: 600px) { body { margin: .6em; font-size: 15px; } ul.tree ul { padding-left: .7em; }
  td.spark svg { width: 70px; } #search { max-width: 9em; } }
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
  const { title = "status", refreshMs = 2000, eventsPath: events, lines = 1000 } = options;
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
<body data-refresh-ms="${refresh}"${events ? ` data-events="${escapeHtml(events)}"` : ""} data-lines="${Math.max(1, lines)}">
<h1>${escapeHtml(title)}</h1>
<div class="meta"><span id="mode">${refresh ? `refreshing every ${refresh} ms` : "not refreshing"}</span> · <span id="state">${refresh || events ? "live" : "still"}</span></div>
<main id="status">
<p class="meta" id="facts">pid ${snapshot.pid} · up ${escapeHtml(formatDuration(snapshot.uptimeMs))} · rss ${mb(snapshot.memory.rss)} · heap ${mb(snapshot.memory.heapUsed)} / ${mb(snapshot.memory.heapTotal)} · at ${escapeHtml(snapshot.time)}</p>
<h2>Counters</h2>
<div id="counters-box">${
    counters.length === 0
      ? `<p class="empty">no counters yet</p>`
      : `<table id="counters">${counters
          .map(
            ([name, value]) =>
              `<tr><th>${escapeHtml(name)}</th><td class="v">${escapeHtml(value === null ? "–" : String(value))}</td></tr>`,
          )
          .join("")}</table>`
  }</div>
<h2>Panels</h2>
<div id="panels-box">${renderPanels(snapshot.panels ?? [])}</div>
<h2>Tasks${events ? ` <input id="search" type="search" placeholder="search by name" aria-label="search tasks by name">` : ""}</h2>
<div id="tasks">${snapshot.tree.children.length === 0 ? `<p class="empty">no labelled task is running</p>` : `<ul class="tree" id="tree">${snapshot.tree.children.map(renderNode).join("")}</ul>`}</div>
<h2>Failures</h2>
<div id="failures-box">${renderFailures(snapshot.failures ?? [])}</div>
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
    ? `<pre class="lines" id="${name}">${lines.map(escapeHtml).join("\n")}</pre>`
    : `<p class="empty">nothing written to ${name} yet</p>`;
  return `<h2>${name}</h2>\n<div id="${name}-box">${body}</div>`;
}

function renderPanels(panels: PanelSnapshot[]): string {
  if (panels.length === 0) return `<p class="empty">no pool, hub or server registered a panel</p>`;
  return `<div class="panels" id="panels">${panels
    .map(
      (p) =>
        `<table class="panel"><caption>${escapeHtml(`${p.kind} ${p.name}`)}</caption>${Object.entries(
          p.values,
        )
          .map(
            ([k, v]) =>
              `<tr><th>${escapeHtml(k)}</th><td class="v">${escapeHtml(panelText(v))}</td></tr>`,
          )
          .join("")}</table>`,
    )
    .join("")}</div>`;
}

function panelText(value: PanelValue): string {
  if (value === null) return "–";
  if (typeof value === "object") {
    // one level of named numbers: a hub's drops per policy, a server's open requests per route
    return (
      Object.entries(value)
        .map(([k, n]) => `${k} ${n}`)
        .join(" · ") || "–"
    );
  }
  return String(value);
}

function renderFailures(failures: LabelFailure[]): string {
  if (failures.length === 0) return `<p class="empty">no failure yet</p>`;
  const items = failures
    .slice()
    .reverse()
    .map(
      (f) =>
        `<li class="failure"><div><span class="when">${escapeHtml(f.failedAt.slice(11, 23))}</span><span class="path">${escapeHtml(f.path.join(" › "))}</span><span class="err">${escapeHtml(`${f.error}: ${f.message}`)}</span></div><details><summary>stack</summary><pre class="stack">${escapeHtml(f.stack)}</pre></details></li>`,
    )
    .join("");
  return `<ol class="failures" id="failures">${items}</ol>`;
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
