// The worker of bench/pool-server.ts, in plain JavaScript on the built
// package (dist/), so that workers start as they do in production: no tsx.
import { defineWorker } from "../dist/pool/index.js";

export default defineWorker({
  interface: {
    inc: (x) => x + 1,
    /** Returns `value`, then exits right after the reply is on its way. */
    exitAfter(value) {
      queueMicrotask(() => process.exit(0));
      return value;
    },
  },
});
