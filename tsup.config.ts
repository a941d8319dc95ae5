import { defineConfig } from "tsup";

/** One entry per public subpath; heavy optional dependencies stay external. */
export default defineConfig({
  entry: {
    index: "src/index.ts",
    "sources/index": "src/sources/index.ts",
    "hub/index": "src/hub/index.ts",
    "hub/redis": "src/hub/redis.ts",
    "pool/index": "src/pool/index.ts",
    "pool/worker": "src/pool/worker.ts",
    "http/index": "src/http/index.ts",
    "inspect/index": "src/inspect/index.ts",
    "otel/index": "src/otel/index.ts",
    "testing/index": "src/testing/index.ts",
  },
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node20",
  splitting: true,
  shims: true,
});
