/**
 * etcd's client-facing errors (its `rpctypes` package): the gRPC status code
 * and the exact `etcdserver: ...` message of each. Clients match on these
 * strings, so they are part of the wire contract (DESIGN.md rule 5).
 *
 * Each entry is a factory so every throw gets a fresh error with its own
 * stack; `isEtcdError(err, EtcdErrors.compacted)` compares by message.
 */
import { Code, ConnectError } from "@connectrpc/connect";

function def(code: Code, message: string): () => ConnectError {
  const make = () => new ConnectError(message, code);
  Object.defineProperty(make, "message", { value: message });
  return make;
}

/** Factories for every etcd client error cairn can return. */
export const EtcdErrors = {
  emptyKey: def(Code.InvalidArgument, "etcdserver: key is not provided"),
  keyNotFound: def(Code.InvalidArgument, "etcdserver: key not found"),
  valueProvided: def(Code.InvalidArgument, "etcdserver: value is provided"),
  leaseProvided: def(Code.InvalidArgument, "etcdserver: lease is provided"),
  tooManyOps: def(Code.InvalidArgument, "etcdserver: too many operations in txn request"),
  duplicateKey: def(Code.InvalidArgument, "etcdserver: duplicate key given in txn request"),
  invalidSortOption: def(Code.InvalidArgument, "etcdserver: invalid sort option"),
  compacted: def(Code.OutOfRange, "etcdserver: mvcc: required revision has been compacted"),
  futureRev: def(Code.OutOfRange, "etcdserver: mvcc: required revision is a future revision"),
  noSpace: def(Code.ResourceExhausted, "etcdserver: mvcc: database space exceeded"),
  leaseNotFound: def(Code.NotFound, "etcdserver: requested lease not found"),
  leaseExist: def(Code.FailedPrecondition, "etcdserver: lease already exists"),
  leaseTTLTooLarge: def(Code.OutOfRange, "etcdserver: too large lease TTL"),
  watchCanceled: def(Code.Canceled, "etcdserver: watch canceled"),
  memberExist: def(Code.FailedPrecondition, "etcdserver: member ID already exist"),
  peerURLExist: def(Code.FailedPrecondition, "etcdserver: Peer URLs already exists"),
  memberNotEnoughStarted: def(
    Code.FailedPrecondition,
    "etcdserver: re-configuration failed due to not enough started members",
  ),
  memberBadURLs: def(Code.InvalidArgument, "etcdserver: given member URLs are invalid"),
  memberNotFound: def(Code.NotFound, "etcdserver: member not found"),
  memberNotLearner: def(Code.FailedPrecondition, "etcdserver: can only promote a learner member"),
  learnerNotReady: def(
    Code.FailedPrecondition,
    "etcdserver: can only promote a learner member which is in sync with leader",
  ),
  tooManyLearners: def(Code.FailedPrecondition, "etcdserver: too many learner members in cluster"),
  requestTooLarge: def(Code.InvalidArgument, "etcdserver: request is too large"),
  tooManyRequests: def(Code.ResourceExhausted, "etcdserver: too many requests"),
  rootUserNotExist: def(Code.FailedPrecondition, "etcdserver: root user does not exist"),
  rootRoleNotExist: def(Code.FailedPrecondition, "etcdserver: root user does not have root role"),
  userAlreadyExist: def(Code.FailedPrecondition, "etcdserver: user name already exists"),
  userEmpty: def(Code.InvalidArgument, "etcdserver: user name is empty"),
  userNotFound: def(Code.FailedPrecondition, "etcdserver: user name not found"),
  roleAlreadyExist: def(Code.FailedPrecondition, "etcdserver: role name already exists"),
  roleNotFound: def(Code.FailedPrecondition, "etcdserver: role name not found"),
  roleEmpty: def(Code.InvalidArgument, "etcdserver: role name is empty"),
  authFailed: def(
    Code.InvalidArgument,
    "etcdserver: authentication failed, invalid user ID or password",
  ),
  permissionDenied: def(Code.PermissionDenied, "etcdserver: permission denied"),
  roleNotGranted: def(Code.FailedPrecondition, "etcdserver: role is not granted to the user"),
  permissionNotGranted: def(
    Code.FailedPrecondition,
    "etcdserver: permission is not granted to the role",
  ),
  authNotEnabled: def(Code.FailedPrecondition, "etcdserver: authentication is not enabled"),
  invalidAuthToken: def(Code.Unauthenticated, "etcdserver: invalid auth token"),
  invalidAuthMgmt: def(Code.InvalidArgument, "etcdserver: invalid auth management"),
  authOldRevision: def(Code.InvalidArgument, "etcdserver: revision of auth store is old"),
  permissionNotGiven: def(Code.InvalidArgument, "etcdserver: permission not given"),
  // etcd has no rpctypes entry for these two: gRPC reports them as Unknown with auth's own text.
  noPasswordUser: def(
    Code.Unknown,
    "auth: authentication failed, password was given for no password user",
  ),
  verifyOnly: def(Code.Unknown, "auth: token signing attempted with verify-only key"),
  noLeader: def(Code.Unavailable, "etcdserver: no leader"),
  notLeader: def(Code.FailedPrecondition, "etcdserver: not leader"),
  leaderChanged: def(Code.Unavailable, "etcdserver: leader changed"),
  notCapable: def(Code.Unavailable, "etcdserver: not capable"),
  stopped: def(Code.Unavailable, "etcdserver: server stopped"),
  timeout: def(Code.Unavailable, "etcdserver: request timed out"),
  timeoutDueToLeaderFail: def(
    Code.Unavailable,
    "etcdserver: request timed out, possibly due to previous leader failure",
  ),
  unhealthy: def(Code.Unavailable, "etcdserver: unhealthy cluster"),
  corrupt: def(Code.DataLoss, "etcdserver: corrupt cluster"),
  notSupportedForLearner: def(Code.Unavailable, "etcdserver: rpc not supported for learner"),
  badLeaderTransferee: def(Code.FailedPrecondition, "etcdserver: bad leader transferee"),
} as const;

/** True when `err` is the etcd error produced by `factory`. */
export function isEtcdError(err: unknown, factory: () => ConnectError): boolean {
  return err instanceof ConnectError && err.rawMessage === factory().rawMessage;
}

/** The etcd error whose message is `message` (e.g. relayed from another member), if any. */
export function etcdErrorByMessage(message: string): ConnectError | undefined {
  for (const make of Object.values(EtcdErrors)) {
    const err = make();
    if (err.rawMessage === message) return err;
  }
  return undefined;
}
