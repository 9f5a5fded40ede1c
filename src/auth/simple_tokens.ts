/**
 * etcd's "simple" tokens: `<16 random letters>.<Raft index>`. The member
 * that checked the password picks the letters and proposes them; every
 * member that applies that entry learns the token, which is how a token
 * issued by one member is valid on all of them. Tokens live only in
 * memory: a restart loses them, as in etcd.
 *
 * A token lives `--auth-token-ttl` seconds after its last use. Expired
 * tokens are dropped when looked up and in sweeps that ride on new
 * assignments, so nothing needs a timer.
 *
 * @module
 */

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const PREFIX_LENGTH = 16;
/** Sweeps of expired tokens run at most this often (etcd's keeper ticks every second). */
const SWEEP_EVERY_MS = 1000;

/** etcd's default simple token TTL. */
export const DEFAULT_TOKEN_TTL_SECONDS = 300;

/** A random token prefix: 16 letters from a cryptographic source, without modulo bias. */
export function newTokenPrefix(): string {
  const out: string[] = [];
  const buf = new Uint8Array(32);
  while (out.length < PREFIX_LENGTH) {
    crypto.getRandomValues(buf);
    for (const b of buf) {
      // 208 = 4 * 52: bytes at or above it would favour the first letters.
      if (b < 208 && out.length < PREFIX_LENGTH) out.push(LETTERS[b % 52]);
    }
  }
  return out.join("");
}

/** The Raft index a simple token names, or undefined when it is not one. */
export function simpleTokenIndex(token: string): number | undefined {
  const dot = token.indexOf(".");
  if (dot < 0 || dot !== token.lastIndexOf(".")) return undefined;
  const digits = token.slice(dot + 1);
  if (!/^\d{1,16}$/.test(digits)) return undefined;
  return Number(digits);
}

interface Entry {
  user: string;
  expires: number;
}

/** Options for {@link SimpleTokens}. */
export interface SimpleTokenOptions {
  /** Seconds a token lives after its last use; 0 means etcd's default (300). */
  ttlSeconds: number;
  /** Clock in ms. Default Date.now. */
  now?: () => number;
}

/** The simple tokens this member knows (local state, not replicated). */
export class SimpleTokens {
  readonly #tokens = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #now: () => number;
  #active = false;
  #lastSweep = 0;
  /** Tokens from entries at or below this index are not assigned (see {@link forgetThrough}). */
  #replayedThrough = 0;

  /** @param opts TTL and clock */
  constructor(opts: SimpleTokenOptions) {
    this.#ttlMs = (opts.ttlSeconds > 0 ? opts.ttlSeconds : DEFAULT_TOKEN_TTL_SECONDS) * 1000;
    this.#now = opts.now ?? Date.now;
  }

  /** Number of live tokens (expired ones may still be counted until swept). */
  get size(): number {
    return this.#tokens.size;
  }

  /**
   * Entries up to `index` were applied before this process started and are
   * only being replayed: tokens they issued are not brought back, so a
   * restart loses every token as etcd's does.
   */
  forgetThrough(index: number): void {
    this.#replayedThrough = index;
  }

  /** Tokens are kept only while auth is enabled (etcd's keeper runs only then). */
  enable(): void {
    this.#active = true;
  }

  /** Auth was disabled: every token is invalid from now on. */
  disable(): void {
    this.#active = false;
    this.#tokens.clear();
  }

  /** Records `token` for `user`, applied from the Authenticate entry at `index`. */
  assign(token: string, user: string, index: number): void {
    if (!this.#active || index <= this.#replayedThrough) return;
    const now = this.#now();
    this.#tokens.set(token, { user, expires: now + this.#ttlMs });
    if (now - this.#lastSweep >= SWEEP_EVERY_MS) this.#sweep(now);
  }

  /** The user of a live token, renewing its TTL; undefined when unknown or expired. */
  lookup(token: string): string | undefined {
    const e = this.#tokens.get(token);
    if (!e) return undefined;
    const now = this.#now();
    if (now > e.expires) {
      this.#tokens.delete(token);
      return undefined;
    }
    e.expires = now + this.#ttlMs;
    return e.user;
  }

  /** A user was deleted or changed password: its tokens stop working. */
  invalidateUser(user: string): void {
    for (const [token, e] of this.#tokens) if (e.user === user) this.#tokens.delete(token);
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [token, e] of this.#tokens) if (now > e.expires) this.#tokens.delete(token);
  }
}
