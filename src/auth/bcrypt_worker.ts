/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A bcrypt worker (see bcrypt_pool.ts): hashes and verifies passwords off
 * the member's main thread, one job at a time. Passwords arrive and leave
 * only through messages; nothing here logs.
 *
 * @module
 */
import { bcrypt, bcryptVerify } from "hash-wasm";
import type { BcryptJob, BcryptReply } from "./bcrypt_pool.ts";

self.onmessage = async (e: MessageEvent<BcryptJob>) => {
  const job = e.data;
  let reply: BcryptReply;
  try {
    if (job.op === "hash") {
      const salt = new Uint8Array(16);
      crypto.getRandomValues(salt);
      const hash = await bcrypt({
        password: job.password,
        salt,
        costFactor: job.cost,
        outputType: "encoded",
      });
      reply = { id: job.id, ok: true, hash };
    } else {
      const ok = await bcryptVerify({ password: job.password, hash: job.hash });
      reply = { id: job.id, ok: true, match: ok };
    }
  } catch (err) {
    reply = { id: job.id, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  self.postMessage(reply);
};
