/** Helpers shared by the benchmarks: write JSON + Markdown results, time things. */
import { mkdirSync, writeFileSync } from "node:fs";
import { arch, cpus, loadavg, platform } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { action, type Operation } from "effection";

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), "results");

/** The 1, 5 and 15 minute load averages, to two decimals. */
export function loadAverage(): string[] {
  return loadavg().map((x) => x.toFixed(2));
}

/** The load average when the benchmark process started (this module loads first). */
const loadAtStart = loadAverage();

/** Machine facts recorded with every result. */
export function machine() {
  return {
    node: process.version,
    platform: `${platform()}-${arch()}`,
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    date: new Date().toISOString(),
    loadAverage: { start: loadAtStart, end: loadAverage() },
  };
}

/** Writes bench/results/<name>.json (the data) and <name>.md (the given Markdown, with a header). */
export function writeResults(name: string, data: unknown, markdown: string): void {
  mkdirSync(resultsDir, { recursive: true });
  const m = machine();
  writeFileSync(
    join(resultsDir, `${name}.json`),
    `${JSON.stringify({ machine: m, ...(data as object) }, null, 2)}\n`,
  );
  const load = `load average (1 / 5 / 15 min) ${m.loadAverage.start.join(" / ")} at the start, ${m.loadAverage.end.join(" / ")} at the end`;
  const header = `# bench: ${name}\n\n${m.date} · Node ${m.node} · ${m.platform} · ${m.cpus} × ${m.cpu} · ${load}\n\nRun with \`npm run bench -- ${name}\`.\n\n`;
  writeFileSync(join(resultsDir, `${name}.md`), `${header}${markdown.trim()}\n`);
  console.log(markdown);
}

/** Median of a list of numbers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Renders a Markdown table. */
export function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** A latch: `wait(total)` returns once `add(n)` has counted `total` units. */
export function createLatch() {
  let count = 0;
  let target = Number.POSITIVE_INFINITY;
  let wake: (() => void) | undefined;
  return {
    add(n = 1) {
      count += n;
      if (count >= target && wake) {
        const w = wake;
        wake = undefined;
        w();
      }
    },
    wait(total: number): Operation<void> {
      target = total;
      return action<void>((resolve) => {
        if (count >= target) resolve();
        else wake = resolve;
        return () => {
          wake = undefined;
        };
      });
    },
  };
}
