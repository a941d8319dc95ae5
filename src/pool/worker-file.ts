import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { SpawnError } from "./errors.js";

/**
 * Turns a `worker` option (a `file:` URL, or a path, relative to the current
 * directory) into a file URL.
 *
 * @example
 * ```ts
 * resolveWorkerFile(new URL("./hash-worker.ts", import.meta.url));
 * resolveWorkerFile("dist/workers/hash.js");
 * ```
 */
export function resolveWorkerFile(worker: string | URL): URL {
  if (worker instanceof URL) return worker;
  if (worker.startsWith("file:")) return new URL(worker);
  return pathToFileURL(resolve(worker));
}

const TS_FILE = /\.[cm]?tsx?$/;

/**
 * True when a worker must load tsx first: the worker file is TypeScript, or
 * bough itself is running from its TypeScript sources.
 *
 * @example
 * ```ts
 * needsTsx(new URL("file:///app/worker.ts")); // true
 * ```
 */
export function needsTsx(file: URL): boolean {
  return TS_FILE.test(file.pathname) || TS_FILE.test(new URL(import.meta.url).pathname);
}

let tsxDir: string | undefined;

function tsxRoot(): string {
  if (tsxDir) return tsxDir;
  const require = createRequire(import.meta.url);
  let packageJson: string;
  try {
    packageJson = require.resolve("tsx/package.json");
  } catch {
    try {
      packageJson = createRequire(join(process.cwd(), "index.js")).resolve("tsx/package.json");
    } catch (cause) {
      throw new SpawnError(
        "a TypeScript worker file needs tsx to run (npm install tsx), or point the pool at the compiled .js file",
        { cause },
      );
    }
  }
  tsxDir = dirname(packageJson);
  return tsxDir;
}

/**
 * The `file:` URL of tsx's loader (`node --import <url>`) for child processes.
 *
 * @example
 * ```ts
 * fork(file, { execArgv: ["--import", tsxLoaderUrl()] });
 * ```
 */
export function tsxLoaderUrl(): string {
  const file = join(tsxRoot(), "dist", "loader.mjs");
  if (!existsSync(file)) throw new Error(`tsx loader not found at ${file}`);
  return pathToFileURL(file).href;
}

/**
 * The `file:` URL of tsx's ESM API (`register()`), for worker threads: on
 * Node 20 `--import` in a Worker's `execArgv` does not install loader hooks in
 * the thread, so the thread registers tsx itself before importing the file.
 *
 * @example
 * ```ts
 * const { register } = await import(tsxApiUrl());
 * register();
 * ```
 */
export function tsxApiUrl(): string {
  const file = join(tsxRoot(), "dist", "esm", "api", "index.mjs");
  if (!existsSync(file)) throw new Error(`tsx API not found at ${file}`);
  return pathToFileURL(file).href;
}
