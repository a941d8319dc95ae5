const { defineWorker } = require("bough/pool");

module.exports = defineWorker({ interface: { add: (a, b) => a + b } });
