import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isJsonDeeperThan, MAX_JSON_DEPTH } from './json-depth.ts';

const nested = (depth: number, open = '[', close = ']'): unknown => JSON.parse(`${open.repeat(depth)}${close.repeat(depth)}`);

describe('isJsonDeeperThan', () => {
  it('counts object and array levels; scalars are depth 0', () => {
    for (const scalar of [null, 1, 'text', true]) assert.equal(isJsonDeeperThan(scalar, 0), false);
    assert.equal(isJsonDeeperThan({}, 0), true);
    assert.equal(isJsonDeeperThan({}, 1), false);
    assert.equal(isJsonDeeperThan({ a: [{ b: 1 }] }, 3), false);
    assert.equal(isJsonDeeperThan({ a: [{ b: 1 }] }, 2), true);
    assert.equal(isJsonDeeperThan(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH), false);
    assert.equal(isJsonDeeperThan(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH), true);
  });

  it('measures what JSON.stringify cannot serialize without throwing (no recursion of its own)', () => {
    const deep = nested(200_000);
    assert.throws(() => JSON.stringify(deep), RangeError);
    assert.equal(isJsonDeeperThan(deep, MAX_JSON_DEPTH), true);
    const deepObject = JSON.parse(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`);
    assert.equal(isJsonDeeperThan(deepObject, MAX_JSON_DEPTH), true);
  });
});
