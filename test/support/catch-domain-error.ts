import assert from 'node:assert/strict';
import { DomainError } from '../../src/shared/index.ts';

// Runs `run` and returns the DomainError it throws; fails the test if it throws anything else or nothing.
export const catchDomainError = (run: () => unknown): DomainError => {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof DomainError, `expected a DomainError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a DomainError, nothing was thrown');
};
