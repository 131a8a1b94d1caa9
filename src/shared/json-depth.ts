// How deeply a parsed JSON value nests, measured without recursion. JSON.parse takes any depth, but
// JSON.stringify recurses and throws RangeError (call stack) at a few thousand levels — ~4,400 from
// an empty stack, fewer inside a request — so 10 kB of "[[[…]]]" would fail wherever it is next
// serialized (storing, publishing, answering). Values from outside (a delivery job's data, an
// agent's command response) are bounded by depth before anything serializes them.

/** Deeper than any real command payload; far below what JSON.stringify handles. */
export const MAX_JSON_DEPTH = 64;

/** Whether `value` nests objects or arrays more than `maxDepth` levels (a scalar is depth 0). */
export const isJsonDeeperThan = (value: unknown, maxDepth: number): boolean => {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth + 1 > maxDepth) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
};
