import { defineWorker } from "bough/pool";

export default defineWorker({ interface: { add: (a, b) => a + b } });
