/**
 * etcd's Auth service. Every change goes through the log and is applied,
 * with its admin check, by the one apply function (src/auth/apply.ts);
 * user and role lists and lookups are read locally after a ReadIndex
 * barrier.
 *
 * Passwords never enter the log: UserAdd and UserChangePassword propose
 * the bcrypt hash, and Authenticate proposes only the user name once the
 * password has been checked here (etcd 3.5's split, CVE-2021-28235).
 * Hashing runs in worker threads (src/auth/passwords.ts).
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { AuthenticateEntrySchema, type InternalRequest } from "../gen/cairn/internal_pb.ts";
import {
  type Auth,
  type AuthenticateResponse,
  AuthenticateResponseSchema,
  AuthRoleGetResponseSchema,
  AuthRoleListResponseSchema,
  AuthStatusResponseSchema,
  AuthUserAddRequestSchema,
  AuthUserChangePasswordRequestSchema,
  AuthUserGetResponseSchema,
  AuthUserListResponseSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors } from "../errors.ts";
import type { AuthenticateResult } from "../auth/apply.ts";
import type { Passwords } from "../auth/passwords.ts";
import type { CallContext } from "../http/call_context.ts";
import type { UnaryService } from "../http/grpc_unary.ts";
import type { Member } from "../server/member.ts";
import { authOf } from "./auth_setup.ts";
import type { Authorizer } from "./authz.ts";

/** How many times Authenticate retries when the auth store changed under its password check. */
const AUTHENTICATE_ATTEMPTS = 8;

/** The Auth service bound to a member. */
export function authService(
  member: Member,
  { authz, passwords }: { authz: Authorizer; passwords: Passwords } = authOf(member),
): Required<UnaryService<typeof Auth>> {
  const store = () => member.sm.auth;
  /** Proposes an auth change as the caller; the apply checks that the caller is root. */
  const change = async <T extends { header?: unknown }>(
    ctx: CallContext,
    request: InternalRequest["request"],
  ): Promise<T> => {
    const header = await authz.header(ctx);
    return await member.proposeForResponse(request, header) as T;
  };
  return {
    authEnable: (req, ctx) => change(ctx, { case: "authEnable", value: req }),
    authDisable: (req, ctx) => change(ctx, { case: "authDisable", value: req }),
    async authStatus(_req, ctx) {
      await member.readBarrier();
      await authz.requireUser(ctx);
      return create(AuthStatusResponseSchema, {
        header: member.header(),
        enabled: store().enabled,
        authRevision: BigInt(store().revision),
      });
    },
    async authenticate(req) {
      await member.readBarrier();
      try {
        return await authenticate(member, authz, passwords, req.name, req.password);
      } finally {
        // The password is not kept past the check (etcd's fix of CVE-2021-28235).
        req.password = "";
      }
    },
    async userAdd(req, ctx) {
      // Hashing costs a bcrypt run: refuse a caller that may not add users before paying it.
      await authz.requireAdmin(ctx);
      const noPassword = req.options?.noPassword ?? false;
      const value = create(AuthUserAddRequestSchema, {
        name: req.name,
        options: req.options,
        hashedPassword: noPassword ? "" : await passwords.hash(req.password),
      });
      req.password = "";
      return await change(ctx, { case: "userAdd", value });
    },
    async userGet(req, ctx) {
      await member.readBarrier();
      const ai = await authz.info(ctx);
      // Anyone may look at their own user.
      if (!store().isAdmin(ai) && req.name !== ai?.username) store().checkAdmin(ai);
      return create(AuthUserGetResponseSchema, {
        header: member.header(),
        roles: store().userRoles(req.name),
      });
    },
    async userList(_req, ctx) {
      await member.readBarrier();
      await authz.requireAdmin(ctx);
      return create(AuthUserListResponseSchema, {
        header: member.header(),
        users: store().userNames(),
      });
    },
    userDelete: (req, ctx) => change(ctx, { case: "userDelete", value: req }),
    async userChangePassword(req, ctx) {
      await authz.requireAdmin(ctx);
      const value = create(AuthUserChangePasswordRequestSchema, {
        name: req.name,
        hashedPassword: await passwords.hash(req.password),
      });
      req.password = "";
      return await change(ctx, { case: "userChangePassword", value });
    },
    userGrantRole: (req, ctx) => change(ctx, { case: "userGrantRole", value: req }),
    userRevokeRole: (req, ctx) => change(ctx, { case: "userRevokeRole", value: req }),
    roleAdd: (req, ctx) => change(ctx, { case: "roleAdd", value: req }),
    async roleGet(req, ctx) {
      await member.readBarrier();
      const ai = await authz.info(ctx);
      // Anyone may look at a role they hold.
      if (!store().isAdmin(ai) && !(ai && store().hasRole(ai.username, req.role))) {
        store().checkAdmin(ai);
      }
      return create(AuthRoleGetResponseSchema, {
        header: member.header(),
        perm: store().rolePermissions(req.role),
      });
    },
    async roleList(_req, ctx) {
      await member.readBarrier();
      await authz.requireAdmin(ctx);
      return create(AuthRoleListResponseSchema, {
        header: member.header(),
        roles: store().roleNames(),
      });
    },
    roleDelete: (req, ctx) => change(ctx, { case: "roleDelete", value: req }),
    roleGrantPermission: (req, ctx) => change(ctx, { case: "roleGrantPermission", value: req }),
    roleRevokePermission: (req, ctx) => change(ctx, { case: "roleRevokePermission", value: req }),
  };
}

/**
 * etcd 3.5's Authenticate: check the password against the stored hash,
 * then propose the authentication (without the password); if the auth
 * store changed between the check and the apply (a password change, say),
 * check again.
 */
async function authenticate(
  member: Member,
  authz: Authorizer,
  passwords: Passwords,
  name: string,
  password: string,
): Promise<AuthenticateResponse> {
  for (let attempt = 0; attempt < AUTHENTICATE_ATTEMPTS; attempt++) {
    const { hash, revision } = member.sm.auth.passwordHash(name);
    if (!await passwords.check(name, password, hash)) throw EtcdErrors.authFailed();
    const value = create(AuthenticateEntrySchema, { name, simpleToken: authz.tokens.prefix() });
    const r = await member.propose({ case: "authenticate", value });
    const applied = r.response as AuthenticateResult;
    if (applied.revision !== revision) continue;
    const token = await authz.tokens.issue(name, applied);
    return create(AuthenticateResponseSchema, { header: member.header(r.revision), token });
  }
  // The store kept changing under every check: let the client try again.
  throw EtcdErrors.authOldRevision();
}
