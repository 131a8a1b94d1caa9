/** Nearest-rank percentile (p in 0..1) of unsorted values; NaN when empty. */
export const percentile = (values: ArrayLike<number>, p: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))]!;
};

export const median = (values: readonly number[]): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

export const concat = (arrays: readonly ArrayLike<number>[]): Float64Array => {
  const all = new Float64Array(arrays.reduce((sum, a) => sum + a.length, 0));
  let offset = 0;
  for (const array of arrays) {
    all.set(array as ArrayLike<number>, offset);
    offset += array.length;
  }
  return all;
};

export const round = (value: number, digits = 2): number => Number.isFinite(value) ? Number(value.toFixed(digits)) : value;
