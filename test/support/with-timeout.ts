// The one bound every test wait goes through: a promise that never settles (an answer that never
// comes) fails the test with what it was waiting for, instead of hanging it until the runner's
// own timeout says nothing useful.

/** Rejects with a message naming `what` if `promise` has not settled within `ms`. */
export const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
};
