/**
 * The auth store: users, roles, their permissions, the enabled flag and
 * the auth revision. It is replicated state: it changes only when a
 * committed entry is applied (src/auth/apply.ts, called from the one apply
 * function), is part of every state snapshot, and answers the permission
 * checks of every RPC the same way on every member.
 *
 * The rules are etcd 3.5's (server/auth/store.go): every user or role
 * change and AuthDisable bump the revision (AuthEnable does not); auth can
 * be enabled only with a user `root` holding the role `root`; while it is
 * enabled, root can be neither deleted nor stripped of the root role, and
 * the root role cannot be deleted. A user holding the root role may do
 * anything.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { Buffer } from "node:buffer";
import {
  type Permission,
  Permission_Type,
  PermissionSchema,
  type Role,
  RoleSchema,
  type User,
  UserAddOptionsSchema,
  UserSchema,
} from "../gen/etcd/api/authpb/auth_pb.ts";
import { type AuthSnapshot, AuthSnapshotSchema } from "../gen/cairn/internal_pb.ts";
import type {
  AuthRoleGrantPermissionRequest,
  AuthRoleRevokePermissionRequest,
  AuthUserAddRequest,
  AuthUserChangePasswordRequest,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors } from "../errors.ts";
import { toBinary as binaryKey } from "../mvcc/keys.ts";
import { intervalOf, type KeyInterval, RangeSet } from "./ranges.ts";
import { SimpleTokens } from "./simple_tokens.ts";

/** The name of the user and of the role that may do anything. */
export const ROOT = "root";

/** Who a request runs as: etcd's AuthInfo. Revision 0 means "no credentials". */
export interface AuthInfo {
  username: string;
  revision: number;
}

/** A user's merged permissions. */
interface UserPerms {
  read: RangeSet;
  write: RangeSet;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Byte order of UTF-8 names, as etcd's bbolt buckets list them. */
function byNameBytes(a: string, b: string): number {
  return Buffer.compare(utf8.encode(a), utf8.encode(b));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** etcd's isValidPermissionRange: a key, and an end that is empty, "\0" or after the key. */
function validPermissionRange(key: Uint8Array, rangeEnd: Uint8Array): boolean {
  if (key.length === 0) return false;
  if (rangeEnd.length === 0) return true;
  if (compareBytes(key, rangeEnd) < 0) return true;
  return rangeEnd.length === 1 && rangeEnd[0] === 0;
}

/** Options for {@link AuthStore}. */
export interface AuthStoreOptions {
  /** `--auth-token-ttl` in seconds (simple tokens). */
  tokenTtlSeconds: number;
  /** Clock for token expiry. Default Date.now. */
  now?: () => number;
}

/** Users, roles and permissions of one member's state machine. */
export class AuthStore {
  #enabled = false;
  /** Starts at 1 as etcd's (a fresh store commits revision 1). */
  #revision = 1;
  readonly #users = new Map<string, User>();
  readonly #roles = new Map<string, Role>();
  /** Merged permissions per user, rebuilt lazily after any change. */
  #perms = new Map<string, UserPerms>();
  /** This member's simple tokens (local, not replicated). */
  readonly tokens: SimpleTokens;

  /** @param opts token TTL and clock */
  constructor(opts: AuthStoreOptions) {
    this.tokens = new SimpleTokens({ ttlSeconds: opts.tokenTtlSeconds, now: opts.now });
  }

  /** Whether authentication is enabled. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** The auth revision: bumped by every change of users, roles or permissions. */
  get revision(): number {
    return this.#revision;
  }

  #changed(): void {
    this.#revision++;
    this.#perms = new Map();
  }

  // --- changes, called only while applying committed entries ---

  /** AuthEnable: needs user root with role root; enabling twice is a no-op. */
  enable(): void {
    if (this.#enabled) return;
    const root = this.#users.get(ROOT);
    if (!root) throw EtcdErrors.rootUserNotExist();
    if (!root.roles.includes(ROOT)) throw EtcdErrors.rootRoleNotExist();
    this.#enabled = true;
    this.tokens.enable();
    this.#perms = new Map();
  }

  /** AuthDisable: every token becomes invalid. */
  disable(): void {
    if (!this.#enabled) return;
    this.#enabled = false;
    this.#changed();
    this.tokens.disable();
  }

  /** UserAdd; `req.hashedPassword` holds the base64 bcrypt hash unless the user has no password. */
  userAdd(req: AuthUserAddRequest): void {
    if (req.name.length === 0) throw EtcdErrors.userEmpty();
    if (this.#users.has(req.name)) throw EtcdErrors.userAlreadyExist();
    const noPassword = req.options?.noPassword ?? false;
    const password = noPassword ? new Uint8Array(0) : decodeHash(req.hashedPassword);
    this.#users.set(
      req.name,
      create(UserSchema, {
        name: utf8.encode(req.name),
        password,
        roles: [],
        options: create(UserAddOptionsSchema, { noPassword }),
      }),
    );
    this.#changed();
  }

  /** UserDelete: root cannot be deleted while auth is enabled. */
  userDelete(name: string): void {
    if (this.#enabled && name === ROOT) throw EtcdErrors.invalidAuthMgmt();
    if (!this.#users.delete(name)) throw EtcdErrors.userNotFound();
    this.#changed();
    this.tokens.invalidateUser(name);
  }

  /** UserChangePassword; a user without password keeps none. */
  userChangePassword(req: AuthUserChangePasswordRequest): void {
    const user = this.#users.get(req.name);
    if (!user) throw EtcdErrors.userNotFound();
    if (!user.options?.noPassword) user.password = decodeHash(req.hashedPassword);
    this.#changed();
    this.tokens.invalidateUser(req.name);
  }

  /** UserGrantRole: the root role need not exist as a role; granting twice changes nothing. */
  userGrantRole(name: string, role: string): void {
    const user = this.#users.get(name);
    if (!user) throw EtcdErrors.userNotFound();
    if (role !== ROOT && !this.#roles.has(role)) throw EtcdErrors.roleNotFound();
    if (user.roles.includes(role)) return;
    user.roles = [...user.roles, role].sort(byNameBytes);
    this.#changed();
  }

  /** UserRevokeRole: root keeps the root role while auth is enabled. */
  userRevokeRole(name: string, role: string): void {
    if (this.#enabled && name === ROOT && role === ROOT) throw EtcdErrors.invalidAuthMgmt();
    const user = this.#users.get(name);
    if (!user) throw EtcdErrors.userNotFound();
    if (!user.roles.includes(role)) throw EtcdErrors.roleNotGranted();
    user.roles = user.roles.filter((r) => r !== role);
    this.#changed();
  }

  /** RoleAdd. */
  roleAdd(name: string): void {
    if (name.length === 0) throw EtcdErrors.roleEmpty();
    if (this.#roles.has(name)) throw EtcdErrors.roleAlreadyExist();
    this.#roles.set(name, create(RoleSchema, { name: utf8.encode(name), keyPermission: [] }));
    this.#changed();
  }

  /** RoleDelete: also revoked from every user; the root role stays while auth is enabled. */
  roleDelete(name: string): void {
    if (this.#enabled && name === ROOT) throw EtcdErrors.invalidAuthMgmt();
    if (!this.#roles.delete(name)) throw EtcdErrors.roleNotFound();
    for (const user of this.#users.values()) {
      if (user.roles.includes(name)) user.roles = user.roles.filter((r) => r !== name);
    }
    this.#changed();
  }

  /** RoleGrantPermission: replaces the type of an identical range, else adds it in key order. */
  roleGrantPermission(req: AuthRoleGrantPermissionRequest): void {
    const perm = req.perm;
    if (!perm) throw EtcdErrors.permissionNotGiven();
    if (!validPermissionRange(perm.key, perm.rangeEnd)) throw EtcdErrors.invalidAuthMgmt();
    const role = this.#roles.get(req.name);
    if (!role) throw EtcdErrors.roleNotFound();
    const same = role.keyPermission.find((p) =>
      sameBytes(p.key, perm.key) && sameBytes(p.rangeEnd, perm.rangeEnd)
    );
    if (same) {
      same.permType = perm.permType;
    } else {
      role.keyPermission = [
        ...role.keyPermission,
        create(PermissionSchema, {
          key: perm.key.slice(),
          rangeEnd: perm.rangeEnd.slice(),
          permType: perm.permType,
        }),
      ];
      // Stable, by key only, as etcd's sort of its permSlice.
      role.keyPermission.sort((a, b) => compareBytes(a.key, b.key));
    }
    this.#changed();
  }

  /** RoleRevokePermission of exactly `(key, range_end)`. */
  roleRevokePermission(req: AuthRoleRevokePermissionRequest): void {
    const role = this.#roles.get(req.role);
    if (!role) throw EtcdErrors.roleNotFound();
    const kept = role.keyPermission.filter((p) =>
      !sameBytes(p.key, req.key) || !sameBytes(p.rangeEnd, req.rangeEnd)
    );
    if (kept.length === role.keyPermission.length) throw EtcdErrors.permissionNotGranted();
    role.keyPermission = kept;
    this.#changed();
  }

  // --- reads ---

  /** UserGet: the user's roles. */
  userRoles(name: string): string[] {
    const user = this.#users.get(name);
    if (!user) throw EtcdErrors.userNotFound();
    return [...user.roles];
  }

  /** RoleGet: the role's permissions. */
  rolePermissions(name: string): Permission[] {
    const role = this.#roles.get(name);
    if (!role) throw EtcdErrors.roleNotFound();
    return role.keyPermission.map((p) => create(PermissionSchema, p));
  }

  /** UserList, in name byte order. */
  userNames(): string[] {
    return [...this.#users.keys()].sort(byNameBytes);
  }

  /** RoleList, in name byte order. */
  roleNames(): string[] {
    return [...this.#roles.keys()].sort(byNameBytes);
  }

  /** Whether `user` exists and holds `role`. */
  hasRole(user: string, role: string): boolean {
    return this.#users.get(user)?.roles.includes(role) ?? false;
  }

  /**
   * The stored bcrypt hash of `name` for a password check, and the revision
   * it was read at (etcd's CheckPassword before the hash comparison).
   */
  passwordHash(name: string): { hash: string; revision: number } {
    if (!this.#enabled) throw EtcdErrors.authNotEnabled();
    const user = this.#users.get(name);
    if (!user) throw EtcdErrors.authFailed();
    if (user.options?.noPassword) throw EtcdErrors.noPasswordUser();
    return { hash: fromUtf8.decode(user.password), revision: this.#revision };
  }

  /**
   * The apply of an Authenticate entry: the password was checked by the
   * proposer. A simple token `prefix.index` is learned by this member.
   */
  authenticate(name: string, prefix: string, index: number): { token: string; revision: number } {
    if (!this.#enabled) throw EtcdErrors.authNotEnabled();
    const user = this.#users.get(name);
    if (!user || user.options?.noPassword) throw EtcdErrors.authFailed();
    let token = "";
    if (prefix !== "") {
      token = `${prefix}.${index}`;
      this.tokens.assign(token, name, index);
    }
    return { token, revision: this.#revision };
  }

  // --- permission checks (etcd's isOpPermitted and IsAdminPermitted) ---

  /** READ on `[key, range_end)` as a request names it. */
  checkRange(ai: AuthInfo | undefined, key: Uint8Array, rangeEnd: Uint8Array): void {
    this.#check(ai, key, rangeEnd, "read");
  }

  /** WRITE on one key. */
  checkPut(ai: AuthInfo | undefined, key: Uint8Array): void {
    this.#check(ai, key, EMPTY, "write");
  }

  /** WRITE on `[key, range_end)`. */
  checkDelete(ai: AuthInfo | undefined, key: Uint8Array, rangeEnd: Uint8Array): void {
    this.#check(ai, key, rangeEnd, "write");
  }

  /** WRITE (`"write"`) or READ on a key given as a latin1 binary string (lease keys). */
  checkBinaryKey(ai: AuthInfo | undefined, key: string, type: "read" | "write"): void {
    if (!this.#enabled) return;
    const user = this.#userFor(ai);
    if (user === undefined) return;
    if (!this.#permsOf(user)[type].hasKey(key)) throw EtcdErrors.permissionDenied();
  }

  /** Root only: fails with etcd's errors for no user, an unknown user, or a user without root. */
  checkAdmin(ai: AuthInfo | undefined): void {
    if (!this.#enabled) return;
    if (!ai || ai.username === "") throw EtcdErrors.userEmpty();
    const user = this.#users.get(ai.username);
    if (!user) throw EtcdErrors.userNotFound();
    if (!user.roles.includes(ROOT)) throw EtcdErrors.permissionDenied();
  }

  /** Whether `ai` passes {@link checkAdmin}. */
  isAdmin(ai: AuthInfo | undefined): boolean {
    if (!this.#enabled) return true;
    return !!ai && this.#users.get(ai.username)?.roles.includes(ROOT) === true;
  }

  /**
   * The user to check ranges for, or undefined when the user holds the root
   * role (allowed everything); throws for missing or stale credentials.
   */
  #userFor(ai: AuthInfo | undefined): User | undefined {
    if (!ai || ai.revision === 0) throw EtcdErrors.userEmpty();
    if (ai.revision < this.#revision) throw EtcdErrors.authOldRevision();
    const user = this.#users.get(ai.username);
    if (!user) throw EtcdErrors.permissionDenied();
    if (user.roles.includes(ROOT)) return undefined;
    return user;
  }

  #check(
    ai: AuthInfo | undefined,
    key: Uint8Array,
    rangeEnd: Uint8Array,
    type: "read" | "write",
  ): void {
    if (!this.#enabled) return;
    const user = this.#userFor(ai);
    if (user === undefined) return;
    const set = this.#permsOf(user)[type];
    const k = binaryKey(key);
    const ok = rangeEnd.length === 0
      ? set.hasKey(k)
      : set.covers(k, rangeEnd.length === 1 && rangeEnd[0] === 0 ? null : binaryKey(rangeEnd));
    if (!ok) throw EtcdErrors.permissionDenied();
  }

  #permsOf(user: User): UserPerms {
    const name = fromUtf8.decode(user.name);
    let perms = this.#perms.get(name);
    if (perms) return perms;
    const read: KeyInterval[] = [];
    const write: KeyInterval[] = [];
    for (const roleName of user.roles) {
      const role = this.#roles.get(roleName);
      if (!role) continue;
      for (const p of role.keyPermission) {
        const iv = intervalOf(binaryKey(p.key), binaryKey(p.rangeEnd));
        if (p.permType === Permission_Type.READ || p.permType === Permission_Type.READWRITE) {
          read.push(iv);
        }
        if (p.permType === Permission_Type.WRITE || p.permType === Permission_Type.READWRITE) {
          write.push(iv);
        }
      }
    }
    perms = { read: RangeSet.of(read), write: RangeSet.of(write) };
    this.#perms.set(name, perms);
    return perms;
  }

  // --- snapshots ---

  /** The replicated part, for state snapshots. */
  serialize(): AuthSnapshot {
    return create(AuthSnapshotSchema, {
      enabled: this.#enabled,
      revision: BigInt(this.#revision),
      users: this.userNames().map((n) => create(UserSchema, this.#users.get(n)!)),
      roles: this.roleNames().map((n) => create(RoleSchema, this.#roles.get(n)!)),
    });
  }

  /**
   * Replaces the replicated part with a snapshot's (a snapshot without auth
   * state, from before auth existed, means a fresh store). Tokens are
   * forgotten, as a member installing a snapshot cannot know them.
   */
  restore(snap: AuthSnapshot | undefined): void {
    this.#users.clear();
    this.#roles.clear();
    this.#perms = new Map();
    this.#enabled = snap?.enabled ?? false;
    this.#revision = snap ? Math.max(1, Number(snap.revision)) : 1;
    for (const u of snap?.users ?? []) this.#users.set(fromUtf8.decode(u.name), u);
    for (const r of snap?.roles ?? []) this.#roles.set(fromUtf8.decode(r.name), r);
    this.tokens.disable();
    if (this.#enabled) this.tokens.enable();
  }
}

const EMPTY = new Uint8Array(0);

/** The bcrypt hash bytes a log entry carries as base64 (etcd's hashedPassword). */
function decodeHash(b64: string): Uint8Array {
  try {
    return new Uint8Array(Buffer.from(b64, "base64"));
  } catch {
    return new Uint8Array(0);
  }
}
