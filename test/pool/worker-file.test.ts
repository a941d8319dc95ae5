import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import {
  needsTsx,
  resolveWorkerFile,
  tsxApiUrl,
  tsxLoaderUrl,
} from "../../src/pool/worker-file.js";

describe("worker files", () => {
  it("resolves URLs, file: strings and paths relative to the current directory", () => {
    const url = new URL("file:///app/worker.js");
    expect(resolveWorkerFile(url)).toBe(url);
    expect(resolveWorkerFile("file:///app/worker.js").href).toBe(url.href);
    expect(resolveWorkerFile("workers/w.js").href).toBe(
      pathToFileURL(join(process.cwd(), "workers/w.js")).href,
    );
  });

  it("loads TypeScript workers (and bough's own sources) through tsx", () => {
    expect(needsTsx(new URL("file:///app/worker.ts"))).toBe(true);
    expect(needsTsx(new URL("file:///app/worker.mts"))).toBe(true);
    // These tests run bough from its .ts sources, so even .js workers need tsx here.
    expect(needsTsx(new URL("file:///app/worker.js"))).toBe(true);
    expect(existsSync(fileURLToPath(tsxLoaderUrl()))).toBe(true);
    expect(existsSync(fileURLToPath(tsxApiUrl()))).toBe(true);
  });
});
