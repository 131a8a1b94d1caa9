/**
 * Resolves once `condition()` holds, checking every 20 ms; rejects naming `what` after `ms`. For
 * state the test can only poll (an API answer, a metric, a Redis key); an event the test can
 * listen to is awaited directly instead.
 */
export const waitUntil = async (condition: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};
