/**
 * JWT tokens (`--auth-token jwt,pub-key=…,priv-key=…,sign-method=…,ttl=…`)
 * with `jose`, as etcd's tokenJWT makes them: claims `username`,
 * `revision` (the auth revision at Authenticate) and `exp`. Any member
 * holding the key verifies a token any other member signed; a member given
 * only the public key verifies but cannot sign ("auth: token signing
 * attempted with verify-only key").
 *
 * Keys are PEM files in any of the usual forms (PKCS#1, SEC1, PKCS#8,
 * SPKI), read by node:crypto and handed to jose as JWKs. HMAC methods use
 * the private key file's bytes as the secret, as etcd does.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, createPublicKey, type JsonWebKey } from "node:crypto";
import { importJWK, type JWK, jwtVerify, SignJWT } from "jose";
import { EtcdErrors } from "../errors.ts";
import { parseDurationMs } from "../config/values.ts";
import type { AuthInfo } from "./store.ts";
import { AuthOptionsError } from "./options_error.ts";

/** The sign methods etcd (jwt-go) knows. */
const METHODS = new Set([
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "HS256",
  "HS384",
  "HS512",
]);

/** etcd's default JWT lifetime. */
const DEFAULT_TTL_MS = 5 * 60_000;
/** Verified tokens remembered, so a busy client's token is checked with a map look-up. */
const VERIFIED_MAX = 8192;

export { AuthOptionsError };

type SigningKey = Awaited<ReturnType<typeof importJWK>>;

/** Signs and verifies JWT tokens. */
export class JwtTokens {
  readonly #alg: string;
  readonly #ttlMs: number;
  readonly #signKey: SigningKey | undefined;
  readonly #verifyKey: SigningKey;
  readonly #now: () => number;
  /** token -> its claims, until its expiry (insertion order is age). */
  readonly #verified = new Map<string, { info: AuthInfo; expMs: number }>();

  private constructor(
    alg: string,
    ttlMs: number,
    sign: SigningKey | undefined,
    verify: SigningKey,
    now: () => number,
  ) {
    this.#alg = alg;
    this.#ttlMs = ttlMs;
    this.#signKey = sign;
    this.#verifyKey = verify;
    this.#now = now;
  }

  /** Whether this member can only verify (it was given no private key). */
  get verifyOnly(): boolean {
    return this.#signKey === undefined;
  }

  /** Builds the provider from the `key=value` options of `--auth-token jwt,...`. */
  static async create(opts: Map<string, string>, now: () => number = Date.now): Promise<JwtTokens> {
    const alg = opts.get("sign-method") ?? "";
    if (!METHODS.has(alg)) throw new AuthOptionsError("auth: invalid auth signature method");
    let ttlMs = DEFAULT_TTL_MS;
    const ttl = opts.get("ttl");
    if (ttl) {
      const ms = parseDurationMs(ttl);
      if (ms === undefined) throw new AuthOptionsError(`time: invalid duration "${ttl}"`);
      ttlMs = ms;
    }
    const privFile = opts.get("priv-key");
    const pubFile = opts.get("pub-key");
    const priv = privFile ? await Deno.readFile(privFile) : undefined;
    const pub = pubFile ? await Deno.readFile(pubFile) : undefined;
    if (alg.startsWith("HS")) {
      if (!priv || priv.length === 0) throw new AuthOptionsError("auth: missing key data");
      const jwk: JWK = { kty: "oct", k: Buffer.from(priv).toString("base64url") };
      const key = await importJWK(jwk, alg);
      return new JwtTokens(alg, ttlMs, key, key, now);
    }
    if (!priv && !pub) throw new AuthOptionsError("auth: missing key data");
    let signJwk: JsonWebKey | undefined;
    let verifyJwk: JsonWebKey;
    try {
      if (priv) {
        const privKey = createPrivateKey(Buffer.from(priv));
        signJwk = privKey.export({ format: "jwk" });
        verifyJwk = createPublicKey(privKey).export({ format: "jwk" });
        if (pub) {
          const given = createPublicKey(Buffer.from(pub)).export({ format: "jwk" });
          if (!samePublicKey(given, verifyJwk)) {
            throw new AuthOptionsError("auth: public and private keys don't match");
          }
        }
      } else {
        verifyJwk = createPublicKey(Buffer.from(pub!)).export({ format: "jwk" });
      }
    } catch (err) {
      if (err instanceof AuthOptionsError) throw err;
      throw new AuthOptionsError(`auth: cannot read JWT key: ${(err as Error).message}`);
    }
    const kty = alg.startsWith("ES") ? "EC" : "RSA";
    if (verifyJwk.kty !== kty) {
      throw new AuthOptionsError(`auth: key type ${verifyJwk.kty} does not fit ${alg}`);
    }
    const sign = signJwk ? await importJWK(signJwk as JWK, alg) : undefined;
    const verify = await importJWK(verifyJwk as JWK, alg);
    return new JwtTokens(alg, ttlMs, sign, verify, now);
  }

  /** A signed token for `username` at auth revision `revision`. */
  async sign(username: string, revision: number): Promise<string> {
    if (!this.#signKey) throw EtcdErrors.verifyOnly();
    const exp = Math.floor((this.#now() + this.#ttlMs) / 1000);
    return await new SignJWT({ username, revision })
      .setProtectedHeader({ alg: this.#alg, typ: "JWT" })
      .setExpirationTime(exp)
      .sign(this.#signKey);
  }

  /** The claims of a valid, unexpired token signed with this key and method, else undefined. */
  info(token: string): AuthInfo | undefined | Promise<AuthInfo | undefined> {
    const hit = this.#verified.get(token);
    if (hit) {
      if (hit.expMs > this.#now()) return hit.info;
      this.#verified.delete(token);
      return undefined;
    }
    return this.#verify(token);
  }

  async #verify(token: string): Promise<AuthInfo | undefined> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.#verifyKey, {
        algorithms: [this.#alg],
        currentDate: new Date(this.#now()),
      }));
    } catch {
      return undefined;
    }
    const { username, revision } = payload as { username?: unknown; revision?: unknown };
    if (typeof username !== "string" || typeof revision !== "number") return undefined;
    const info: AuthInfo = { username, revision: Math.max(0, Math.trunc(revision)) };
    const expMs = typeof payload.exp === "number" ? payload.exp * 1000 : Infinity;
    this.#verified.set(token, { info, expMs });
    if (this.#verified.size > VERIFIED_MAX) {
      this.#verified.delete(this.#verified.keys().next().value!);
    }
    return info;
  }
}

function samePublicKey(a: JsonWebKey, b: JsonWebKey): boolean {
  return a.kty === b.kty && a.n === b.n && a.e === b.e && a.x === b.x && a.y === b.y &&
    a.crv === b.crv;
}
