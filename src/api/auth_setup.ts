/**
 * A member's authentication parts, built from its configuration: the token
 * provider `--auth-token` names (bad options stop the start-up with etcd's
 * error), the bcrypt workers at `--bcrypt-cost`, and the authorizer every
 * service consults.
 *
 * The composition root builds them with {@link setupAuth} before it builds
 * the services; each service finds them with {@link authOf}. A member
 * whose parts were never set up gets the default (simple tokens) on first
 * use, which needs no I/O.
 *
 * @module
 */
import { Passwords } from "../auth/passwords.ts";
import {
  createTokenProvider,
  type SimpleTokenHost,
  simpleTokenProvider,
  type TokenProvider,
} from "../auth/tokens.ts";
import type { Member } from "../server/member.ts";
import { Authorizer } from "./authz.ts";

/** The auth parts of a running member. */
export interface AuthParts {
  authz: Authorizer;
  passwords: Passwords;
  /** Stops the bcrypt workers. */
  close(): void;
}

const parts = new WeakMap<Member, AuthParts>();

function host(member: Member): SimpleTokenHost {
  return {
    auth: member.sm.auth,
    appliedIndex: () => member.appliedIndex,
    waitApplied: (index) => member.waitApplied(index),
  };
}

function build(member: Member, tokens: TokenProvider): AuthParts {
  const cfg = member.config;
  const passwords = new Passwords({ cost: cfg.bcryptCost });
  const authz = new Authorizer(member, tokens, cfg.clientTls.clientCertAuth);
  const built = { authz, passwords, close: () => passwords.close() };
  parts.set(member, built);
  return built;
}

/** Reads `--auth-token`, `--bcrypt-cost` and `--client-cert-auth` for `member`. */
export async function setupAuth(member: Member): Promise<AuthParts> {
  return build(member, await createTokenProvider(member.config.authToken, host(member)));
}

/** The parts {@link setupAuth} made for `member` (simple tokens if it was never called). */
export function authOf(member: Member): AuthParts {
  const found = parts.get(member);
  if (found) return found;
  if (member.config.authToken.split(",")[0] !== "simple") {
    throw new Error(`--auth-token ${member.config.authToken}: setupAuth must run first`);
  }
  return build(member, simpleTokenProvider(host(member)));
}
