import assert from "node:assert/strict";
import { BcryptPool } from "./bcrypt_pool.ts";
import { Passwords } from "./passwords.ts";

/** A pool that counts verifications, over real bcrypt workers. */
class CountingPool extends BcryptPool {
  verifies = 0;
  override verify(password: string, hash: string): Promise<boolean> {
    this.verifies++;
    return super.verify(password, hash);
  }
}

Deno.test("passwords: bcrypt off the main thread, hashes etcd can read, checks remembered", async () => {
  const pool = new CountingPool({ workers: 2 });
  let now = 0;
  const pw = new Passwords({ cost: 4, pool, now: () => now });
  try {
    const b64 = await pw.hash("s3cret");
    const hash = atob(b64);
    assert.match(hash, /^\$2[aby]\$04\$/);
    assert.equal(await pw.check("alice", "wrong", hash), false);
    assert.equal(await pw.check("alice", "wrong", hash), false);
    assert.equal(pool.verifies, 2, "failures are never remembered");
    // A burst of identical checks shares one bcrypt run.
    const burst = await Promise.all(
      Array.from({ length: 20 }, () => pw.check("alice", "s3cret", hash)),
    );
    assert.ok(burst.every((ok) => ok));
    assert.equal(pool.verifies, 3);
    assert.equal(await pw.check("alice", "s3cret", hash), true);
    assert.equal(pool.verifies, 3, "a remembered success costs no bcrypt run");
    assert.equal(await pw.check("bob", "s3cret", hash), true, "another user is another entry");
    assert.equal(pool.verifies, 4);
    now += 11 * 60_000;
    assert.equal(await pw.check("alice", "s3cret", hash), true);
    assert.equal(pool.verifies, 5, "remembered for a while only");
    const other = atob(await pw.hash("s3cret"));
    assert.notEqual(other, hash, "a fresh salt each time");
    assert.equal(await pw.check("alice", "s3cret", "not a hash"), false);
    await assert.rejects(pw.hash("x".repeat(73)), /password length exceeds 72 bytes/);
  } finally {
    pw.close();
  }
});
