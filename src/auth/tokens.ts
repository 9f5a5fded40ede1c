/**
 * The token provider `--auth-token` names: `simple` (etcd's default),
 * `jwt,...` (see jwt.ts), or the empty string (no token is ever valid and
 * Authenticate fails, as etcd's nop provider). The options are read as
 * etcd's decomposeOpts reads them: comma-separated, `key=value` after the
 * type, no key twice.
 *
 * @module
 */
import { EtcdErrors } from "../errors.ts";
import type { JwtTokens } from "./jwt.ts";
import { AuthOptionsError } from "./options_error.ts";
import { newTokenPrefix, simpleTokenIndex } from "./simple_tokens.ts";
import type { AuthInfo, AuthStore } from "./store.ts";
import type { AuthenticateResult } from "./apply.ts";

export { AuthOptionsError } from "./options_error.ts";

/** How a member issues and reads tokens. */
export interface TokenProvider {
  readonly kind: "simple" | "jwt" | "none";
  /** The simple token prefix an Authenticate entry carries ("" when the provider signs). */
  prefix(): string;
  /** The token to answer an applied Authenticate with. */
  issue(username: string, applied: AuthenticateResult): string | Promise<string>;
  /** Who a token stands for; undefined when it is not valid here. */
  info(token: string): AuthInfo | undefined | Promise<AuthInfo | undefined>;
}

/** What the simple provider needs of the member. */
export interface SimpleTokenHost {
  /** The replicated auth store (its `tokens` are this member's). */
  auth: AuthStore;
  /** This member's applied index. */
  appliedIndex(): number;
  /** Resolves once entry `index` is applied here (bounded by the request timeout). */
  waitApplied(index: number): Promise<void>;
}

/** Splits `--auth-token` into its type and options, with etcd's checks. */
export function parseTokenOptions(spec: string): { type: string; opts: Map<string, string> } {
  const parts = spec.split(",");
  const opts = new Map<string, string>();
  for (const part of parts.slice(1)) {
    const pair = part.split("=");
    if (pair.length !== 2 || opts.has(pair[0])) {
      throw new AuthOptionsError("auth: invalid auth options");
    }
    opts.set(pair[0], pair[1]);
  }
  return { type: parts[0], opts };
}

/** Builds the provider `--auth-token` names; throws {@link AuthOptionsError} for bad options. */
export async function createTokenProvider(
  spec: string,
  host: SimpleTokenHost,
): Promise<TokenProvider> {
  const { type, opts } = parseTokenOptions(spec);
  switch (type) {
    case "simple":
      return simpleTokenProvider(host);
    case "jwt": {
      // Loaded only here: most members use simple tokens (options_error.ts).
      const { JwtTokens } = await import("./jwt.ts");
      return jwtProvider(await JwtTokens.create(opts));
    }
    case "":
      return {
        kind: "none",
        prefix: () => "",
        issue: () => {
          throw EtcdErrors.authFailed();
        },
        info: () => undefined,
      };
    default:
      throw new AuthOptionsError("auth: invalid auth options");
  }
}

/** etcd's simple tokens (see simple_tokens.ts), read from `host`'s auth store. */
export function simpleTokenProvider(host: SimpleTokenHost): TokenProvider {
  const lookup = (token: string): AuthInfo | undefined => {
    const username = host.auth.tokens.lookup(token);
    return username === undefined ? undefined : { username, revision: host.auth.revision };
  };
  return {
    kind: "simple",
    prefix: newTokenPrefix,
    issue: (_username, applied) => applied.token,
    info(token) {
      const index = simpleTokenIndex(token);
      if (index === undefined) return undefined;
      if (index <= host.appliedIndex()) return lookup(token);
      // Issued by another member through an entry not applied here yet.
      return host.waitApplied(index).then(() => lookup(token), () => undefined);
    },
  };
}

function jwtProvider(jwt: JwtTokens): TokenProvider {
  return {
    kind: "jwt",
    prefix: () => "",
    issue: (username, applied) => jwt.sign(username, applied.revision),
    info: (token) => jwt.info(token),
  };
}
