/**
 * The membership a data directory was created with, kept in the WAL's
 * metadata record so a restart without any snapshot still knows it.
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Bootstrap, BootstrapSchema, type MemberRecord } from "../gen/cairn/internal_pb.ts";

/** Encodes the bootstrap membership (and whether the member joined a running cluster). */
export function bootstrapMetadata(members: MemberRecord[], joined = false): Uint8Array {
  return toBinary(BootstrapSchema, create(BootstrapSchema, { members, joined }));
}

/** Decodes what {@link bootstrapMetadata} wrote. */
export function readBootstrapMetadata(data: Uint8Array): Bootstrap {
  return fromBinary(BootstrapSchema, data);
}
