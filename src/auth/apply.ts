/**
 * The auth side of applying a committed entry (called by the one apply
 * function, src/server/apply.ts): auth store changes, and the permission
 * checks etcd's authApplierV3 makes before a write is applied. The checks
 * run at apply, against the replicated auth state and the user and auth
 * revision the entry carries, so every member reaches the same verdict and
 * a request checked before a concurrent auth change fails with "revision
 * of auth store is old" instead of slipping through.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { InternalRequest } from "../gen/cairn/internal_pb.ts";
import {
  AuthDisableResponseSchema,
  AuthEnableResponseSchema,
  AuthRoleAddResponseSchema,
  AuthRoleDeleteResponseSchema,
  AuthRoleGrantPermissionResponseSchema,
  AuthRoleRevokePermissionResponseSchema,
  AuthUserAddResponseSchema,
  AuthUserChangePasswordResponseSchema,
  AuthUserDeleteResponseSchema,
  AuthUserGrantRoleResponseSchema,
  AuthUserRevokeRoleResponseSchema,
  type PutRequest,
  type RequestOp,
  type TxnRequest,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { Lessor } from "../lease/lessor.ts";
import type { AuthInfo, AuthStore } from "./store.ts";

/** What applying an Authenticate entry yields; the API turns it into the token it answers. */
export interface AuthenticateResult {
  /** The simple token learned by this member, "" with JWT tokens. */
  token: string;
  /** The auth revision at apply (a JWT's `revision` claim). */
  revision: number;
}

/** Returned by {@link applyAuthEntry} for entries that are not auth changes. */
export const NOT_AUTH: unique symbol = Symbol("not an auth entry");

type Request = InternalRequest["request"];

/** The credentials an entry carries; undefined for the member's own requests. */
function credentials(req: InternalRequest): AuthInfo | undefined {
  const a = req.auth;
  return a ? { username: a.username, revision: Number(a.revision) } : undefined;
}

/**
 * Applies an auth store change (after etcd's admin check: every auth change
 * needs root once auth is enabled) and returns its response, or
 * {@link NOT_AUTH} when `req` is no auth change. Throws etcd's errors.
 */
export function applyAuthEntry(
  auth: AuthStore,
  req: InternalRequest,
  index: number,
): unknown | typeof NOT_AUTH {
  const r: Request = req.request;
  if (!isAuthChange(r)) return NOT_AUTH;
  if (r.case !== "authenticate") auth.checkAdmin(credentials(req));
  switch (r.case) {
    case "authEnable":
      auth.enable();
      return create(AuthEnableResponseSchema, {});
    case "authDisable":
      auth.disable();
      return create(AuthDisableResponseSchema, {});
    case "authenticate":
      return auth.authenticate(r.value.name, r.value.simpleToken, index) as AuthenticateResult;
    case "userAdd":
      auth.userAdd(r.value);
      return create(AuthUserAddResponseSchema, {});
    case "userDelete":
      auth.userDelete(r.value.name);
      return create(AuthUserDeleteResponseSchema, {});
    case "userChangePassword":
      auth.userChangePassword(r.value);
      return create(AuthUserChangePasswordResponseSchema, {});
    case "userGrantRole":
      auth.userGrantRole(r.value.user, r.value.role);
      return create(AuthUserGrantRoleResponseSchema, {});
    case "userRevokeRole":
      auth.userRevokeRole(r.value.name, r.value.role);
      return create(AuthUserRevokeRoleResponseSchema, {});
    case "roleAdd":
      auth.roleAdd(r.value.name);
      return create(AuthRoleAddResponseSchema, {});
    case "roleDelete":
      auth.roleDelete(r.value.role);
      return create(AuthRoleDeleteResponseSchema, {});
    case "roleGrantPermission":
      auth.roleGrantPermission(r.value);
      return create(AuthRoleGrantPermissionResponseSchema, {});
    case "roleRevokePermission":
      auth.roleRevokePermission(r.value);
      return create(AuthRoleRevokePermissionResponseSchema, {});
  }
}

type AuthCase =
  | "authEnable"
  | "authDisable"
  | "authenticate"
  | "userAdd"
  | "userDelete"
  | "userChangePassword"
  | "userGrantRole"
  | "userRevokeRole"
  | "roleAdd"
  | "roleDelete"
  | "roleGrantPermission"
  | "roleRevokePermission";

const AUTH_CASES = new Set<string>(
  [
    "authEnable",
    "authDisable",
    "authenticate",
    "userAdd",
    "userDelete",
    "userChangePassword",
    "userGrantRole",
    "userRevokeRole",
    "roleAdd",
    "roleDelete",
    "roleGrantPermission",
    "roleRevokePermission",
  ] satisfies AuthCase[],
);

function isAuthChange(r: Request): r is Extract<Request, { case: AuthCase }> {
  return r.case !== undefined && AUTH_CASES.has(r.case);
}

/**
 * etcd's authApplierV3 checks for a client's write before it is applied:
 * Put, DeleteRange, Txn (every compare and every op of both branches, at
 * any depth) and LeaseRevoke. Requests the member makes itself (no auth
 * header) are not checked. Throws etcd's error when the request is not
 * allowed.
 */
export function authorizeEntry(auth: AuthStore, lessor: Lessor, req: InternalRequest): void {
  if (!auth.enabled || !req.auth) return;
  const ai = credentials(req);
  const r = req.request;
  switch (r.case) {
    case "put":
      checkPut(auth, lessor, ai, r.value);
      break;
    case "deleteRange":
      auth.checkDelete(ai, r.value.key, r.value.rangeEnd);
      if (r.value.prevKv) auth.checkRange(ai, r.value.key, r.value.rangeEnd);
      break;
    case "txn":
      checkTxn(auth, lessor, ai, r.value);
      break;
    case "leaseRevoke":
      checkLeaseKeys(auth, lessor, ai, r.value.ID);
      break;
  }
}

/**
 * WRITE on the key; with a lease, WRITE on every key already attached to it
 * (a user who could not revoke the lease must not attach to it); READ too
 * when the previous value is asked for.
 */
function checkPut(
  auth: AuthStore,
  lessor: Lessor,
  ai: AuthInfo | undefined,
  put: PutRequest,
): void {
  auth.checkPut(ai, put.key);
  if (put.lease !== 0n) checkLeaseKeys(auth, lessor, ai, put.lease);
  if (put.prevKv) auth.checkRange(ai, put.key, EMPTY);
}

/** WRITE on every key attached to lease `id` (nothing to check for an unknown lease). */
export function checkLeaseKeys(
  auth: AuthStore,
  lessor: Lessor,
  ai: AuthInfo | undefined,
  id: bigint,
): void {
  const lease = lessor.lookup(id);
  if (!lease || auth.isAdmin(ai)) return;
  for (const key of lease.keys.keys()) auth.checkBinaryKey(ai, key, "write");
}

/** READ on every compare, and every op of both branches checked as on its own. */
export function checkTxn(
  auth: AuthStore,
  lessor: Lessor,
  ai: AuthInfo | undefined,
  txn: TxnRequest,
): void {
  for (const c of txn.compare) auth.checkRange(ai, c.key, c.rangeEnd);
  checkOps(auth, lessor, ai, txn.success);
  checkOps(auth, lessor, ai, txn.failure);
}

function checkOps(
  auth: AuthStore,
  lessor: Lessor,
  ai: AuthInfo | undefined,
  ops: RequestOp[],
): void {
  for (const op of ops) {
    const r = op.request;
    switch (r.case) {
      case "requestRange":
        auth.checkRange(ai, r.value.key, r.value.rangeEnd);
        break;
      case "requestPut":
        checkPut(auth, lessor, ai, r.value);
        break;
      case "requestDeleteRange":
        if (r.value.prevKv) auth.checkRange(ai, r.value.key, r.value.rangeEnd);
        auth.checkDelete(ai, r.value.key, r.value.rangeEnd);
        break;
      case "requestTxn":
        checkTxn(auth, lessor, ai, r.value);
        break;
    }
  }
}

const EMPTY = new Uint8Array(0);
