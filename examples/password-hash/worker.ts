/**
 * The worker of seed 004's synopsis: `setup` opens /dev/urandom once per
 * worker; `hash` salts from it and hashes with bcrypt (cost 10); `verify`
 * checks a password against a hash. CPU-heavy work that must not block the
 * client's event loop, so it lives in a worker.
 */
import { closeSync, openSync, readSync } from "node:fs";
import bcrypt from "bcryptjs";
import { defineWorker, log } from "../../src/pool/index.js";

let urandom: number | undefined;

export default defineWorker({
  setup() {
    urandom = openSync("/dev/urandom", "r");
    process.once("exit", () => {
      if (urandom !== undefined) closeSync(urandom);
    });
  },
  interface: {
    hash(plaintext: string): string {
      if (typeof plaintext !== "string" || plaintext.length === 0) {
        throw new TypeError("hash(plaintext): plaintext must be a non-empty string");
      }
      const salt = Buffer.alloc(16);
      if (urandom === undefined || readSync(urandom, salt, 0, 16, null) !== 16) {
        throw new Error("bad read from /dev/urandom");
      }
      const start = performance.now();
      const crypted = bcrypt.hashSync(plaintext, `$2b$10$${bcrypt.encodeBase64(salt, 16)}`);
      log.info(`hashed in ${(performance.now() - start).toFixed(1)} ms`);
      return crypted;
    },
    verify(crypted: string, plaintext: string): boolean {
      return bcrypt.compareSync(plaintext, crypted);
    },
  },
});
