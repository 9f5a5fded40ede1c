/**
 * Work over a whole store written once, run two ways: a generator that
 * `yield`s between bounded steps is driven to the end in one go
 * ({@link runSteps}: small stores, start-up, tests) or with a pause at
 * each yield ({@link runStepsPaused}: a member serving clients, where one
 * synchronous pass over 1,000,000 keys would hold the event loop for
 * seconds and cost a leader its lease).
 *
 * @module
 */

/** A computation in steps: yields between steps (what it yields is its own business), returns its result. */
export type Steps<T> = Generator<unknown, T, undefined>;

/** Runs `steps` to the end without pausing. */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * Runs `steps`, awaiting `pause` at each of its yields (a rejecting
 * `pause` abandons the work: the generator is closed and the rejection
 * passed on).
 */
export async function runStepsPaused<T>(
  steps: Steps<T>,
  pause: () => Promise<void>,
): Promise<T> {
  try {
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      await pause();
    }
  } finally {
    steps.return(undefined as T);
  }
}
