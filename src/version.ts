/**
 * The versions cairn reports: the etcd API version it implements (clients
 * gate features on it) and the cluster version. Every room may read them.
 *
 * @module
 */

/** etcd API version cairn implements; clients gate features on it. */
export const SERVER_VERSION = "3.5.17";
/** The cluster version cairn reports (etcd reports major.minor.0). */
export const CLUSTER_VERSION = "3.5.0";
