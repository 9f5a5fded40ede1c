/**
 * The membership a data directory was created with, kept in the WAL's
 * metadata record so a restart without any snapshot still knows it.
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BootstrapSchema, type MemberRecord } from "../gen/cairn/internal_pb.ts";

/** Encodes the bootstrap membership for the WAL metadata record. */
export function bootstrapMetadata(members: MemberRecord[]): Uint8Array {
  return toBinary(BootstrapSchema, create(BootstrapSchema, { members }));
}

/** Decodes what {@link bootstrapMetadata} wrote. */
export function readBootstrapMetadata(data: Uint8Array): MemberRecord[] {
  return fromBinary(BootstrapSchema, data).members;
}
