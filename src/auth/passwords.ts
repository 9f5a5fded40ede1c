/**
 * Password hashing and checking for the Auth service, with bcrypt in the
 * worker pool (bcrypt_pool.ts).
 *
 * Successful checks are remembered for a while, so a client that
 * authenticates again with the same password (every client of a cluster
 * after a leader election, etcd issues 9615 and 11826) costs one HMAC
 * instead of a bcrypt run. What is remembered is HMAC-SHA256 under a
 * random per-process key of (user, stored hash, password): never the
 * password, and a changed password (a new stored hash) never matches an
 * old entry. Failed checks are not remembered, so guessing still costs a
 * full bcrypt run per try. Identical checks that arrive while one is
 * running share its bcrypt run (a burst of clients logging in at once).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac, randomBytes } from "node:crypto";
import { ConnectError } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import { BcryptPool, MAX_PASSWORD_BYTES } from "./bcrypt_pool.ts";

/** How long a successful check is remembered. */
const REMEMBER_MS = 10 * 60_000;
/** How many successful checks are remembered at most. */
const REMEMBER_MAX = 8192;

/** Options for {@link Passwords}. */
export interface PasswordOptions {
  /** `--bcrypt-cost`. */
  cost: number;
  /** Clock in ms. Default Date.now. */
  now?: () => number;
  /** The pool to use (tests); default a new one. */
  pool?: BcryptPool;
}

/** Hashes new passwords and checks given ones. */
export class Passwords {
  readonly #cost: number;
  readonly #now: () => number;
  readonly #pool: BcryptPool;
  readonly #key = randomBytes(32);
  /** HMAC of a verified (user, hash, password) -> when it stops counting. Insertion order is age. */
  readonly #verified = new Map<string, number>();
  /** Checks running now, by the same HMAC: identical ones wait for the same result. */
  readonly #running = new Map<string, Promise<boolean>>();

  /** @param opts cost, clock, pool */
  constructor(opts: PasswordOptions) {
    this.#cost = opts.cost;
    this.#now = opts.now ?? Date.now;
    this.#pool = opts.pool ?? new BcryptPool();
  }

  /** The bcrypt hash of a new password, as etcd's hashedPassword field carries it (base64). */
  async hash(password: string): Promise<string> {
    if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
      // Go's x/crypto refuses these; etcd answers with its text as an unknown error.
      throw new ConnectError("bcrypt: password length exceeds 72 bytes", Code.Unknown);
    }
    const encoded = await this.#pool.hash(password, this.#cost);
    return Buffer.from(encoded, "utf8").toString("base64");
  }

  /** Whether `password` is the one `hash` (the stored bcrypt string) was made from. */
  async check(user: string, password: string, hash: string): Promise<boolean> {
    if (hash === "" || Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return false;
    const mac = createHmac("sha256", this.#key)
      .update(user).update("\0").update(hash).update("\0").update(password)
      .digest("base64");
    const now = this.#now();
    const until = this.#verified.get(mac);
    if (until !== undefined && until > now) return true;
    if (until !== undefined) this.#verified.delete(mac);
    let running = this.#running.get(mac);
    if (!running) {
      running = this.#pool.verify(password, hash).then((ok) => {
        if (ok) this.#remember(mac, this.#now() + REMEMBER_MS);
        return ok;
      }).finally(() => this.#running.delete(mac));
      this.#running.set(mac, running);
    }
    return await running;
  }

  /** Stops the workers. */
  close(): void {
    this.#pool.close();
    this.#verified.clear();
  }

  #remember(mac: string, until: number): void {
    this.#verified.delete(mac);
    this.#verified.set(mac, until);
    while (this.#verified.size > REMEMBER_MAX) {
      this.#verified.delete(this.#verified.keys().next().value!);
    }
  }
}
