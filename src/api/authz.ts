/**
 * Who a call runs as, and the checks of the API layer (etcd's
 * AuthInfoFromCtx, requireAuthInfo, IsAdminPermitted and doSerialize).
 *
 * Credentials come from the `token` gRPC metadata, else from the
 * `authorization` header (Connect, gRPC-Web and HTTP clients; a `Bearer `
 * prefix is dropped), else, with `--client-cert-auth`, from the common
 * name of the connection's verified client certificate. A token that is
 * not valid fails the call with "invalid auth token"; no credentials at
 * all fail every check with "user name is empty".
 *
 * Writes are checked again when they are applied (src/auth/apply.ts):
 * what the API layer adds to them is the user and auth revision they run
 * under, carried in the log entry.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { Buffer } from "node:buffer";
import { X509Certificate } from "node:crypto";
import { type AuthHeader, AuthHeaderSchema } from "../gen/cairn/internal_pb.ts";
import { EtcdErrors } from "../errors.ts";
import { type CallContext, PEER_CERTIFICATE } from "../http/call_context.ts";
import type { AuthInfo, AuthStore } from "../auth/store.ts";
import type { TokenProvider } from "../auth/tokens.ts";
import type { Member } from "../server/member.ts";

/** The header of requests made without credentials (or while auth is off). */
const NO_CREDENTIALS: AuthHeader = create(AuthHeaderSchema, { username: "", revision: 0n });

/** Common names of client certificates already read, by certificate. */
const commonNames = new WeakMap<Uint8Array, string>();

/** The subject common name of a DER certificate ("" when it has none or does not parse). */
export function certificateCommonName(der: Uint8Array): string {
  let cn = commonNames.get(der);
  if (cn !== undefined) return cn;
  cn = "";
  try {
    const subject = new X509Certificate(Buffer.from(der)).subject;
    for (const line of subject.split("\n")) if (line.startsWith("CN=")) cn = line.slice(3);
  } catch { /* no name to give */ }
  commonNames.set(der, cn);
  return cn;
}

/** Resolves calls to users and checks them against the member's auth store. */
export class Authorizer {
  readonly #member: Member;
  readonly #clientCertAuth: boolean;
  /** How tokens are issued and read (`--auth-token`). */
  readonly tokens: TokenProvider;

  /** @param member the member whose auth store decides @param tokens the token provider */
  constructor(member: Member, tokens: TokenProvider, clientCertAuth: boolean) {
    this.#member = member;
    this.tokens = tokens;
    this.#clientCertAuth = clientCertAuth;
  }

  /** The member's replicated auth store. */
  get store(): AuthStore {
    return this.#member.sm.auth;
  }

  /**
   * etcd's AuthInfoFromCtx: undefined while auth is disabled or when the
   * call carries no credentials; rejects with "invalid auth token".
   */
  info(ctx: CallContext): AuthInfo | undefined | Promise<AuthInfo | undefined> {
    if (!this.store.enabled) return undefined;
    let token = ctx.requestHeader.get("token") ?? ctx.requestHeader.get("authorization");
    if (token !== null) {
      if (token.startsWith("Bearer ")) token = token.slice(7);
      const found = this.tokens.info(token);
      if (found instanceof Promise) return found.then(validToken);
      return validToken(found);
    }
    if (this.#clientCertAuth) {
      const cert = ctx.values.get(PEER_CERTIFICATE);
      // A gateway proxying for someone else must not pass as its own certificate's user.
      if (cert && ctx.requestHeader.get("grpcgateway-accept") === null) {
        return { username: certificateCommonName(cert), revision: this.store.revision };
      }
    }
    return undefined;
  }

  /**
   * The user and auth revision a proposed request runs under (empty without
   * credentials). Synchronous unless a token must be waited for, so the
   * write path pays no extra turn while auth is off.
   */
  header(ctx: CallContext): AuthHeader | Promise<AuthHeader> {
    if (!this.store.enabled) return NO_CREDENTIALS;
    const ai = this.info(ctx);
    return ai instanceof Promise ? ai.then(headerOf) : headerOf(ai);
  }

  /** etcd's requireAuthInfo: any authenticated user, once auth is enabled. */
  async requireUser(ctx: CallContext): Promise<AuthInfo | undefined> {
    const ai = await this.info(ctx);
    if (this.store.enabled && !ai) throw EtcdErrors.userEmpty();
    return ai;
  }

  /** Root only, once auth is enabled. */
  async requireAdmin(ctx: CallContext): Promise<AuthInfo | undefined> {
    const ai = await this.info(ctx);
    this.store.checkAdmin(ai);
    return ai;
  }

  /**
   * etcd's doSerialize for a read served without the log: `check` runs
   * against the caller's credentials, then `read`; if the auth store
   * changed meanwhile the answer is withheld ("revision of auth store is
   * old").
   */
  async serialized<T>(
    ctx: CallContext,
    check: (ai: AuthInfo | undefined) => void,
    read: () => T,
  ): Promise<T> {
    const ai = this.store.enabled ? await this.info(ctx) : undefined;
    check(ai);
    const out = read();
    if (ai && ai.revision !== 0 && ai.revision !== this.store.revision) {
      throw EtcdErrors.authOldRevision();
    }
    return out;
  }
}

function headerOf(ai: AuthInfo | undefined): AuthHeader {
  if (!ai) return NO_CREDENTIALS;
  return create(AuthHeaderSchema, { username: ai.username, revision: BigInt(ai.revision) });
}

function validToken(ai: AuthInfo | undefined): AuthInfo {
  if (!ai) throw EtcdErrors.invalidAuthToken();
  return ai;
}
