/**
 * What every view gets from the shell: the clients, navigation and the
 * error path (which turns an auth error into the login form).
 *
 * @module
 */
import type { Api } from "./api.ts";

/** The shell's services handed to each view. */
export interface ViewContext {
  api: Api;
  /** Goes to a dashboard route, e.g. "#/keys?p=app%2F". */
  navigate(hash: string): void;
  /** The text to show for a failed call; asks for a login when that is what it lacked. */
  fail(err: unknown): string;
}
