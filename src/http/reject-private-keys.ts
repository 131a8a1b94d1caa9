import type { preValidationAsyncHookHandler } from 'fastify';
import { containsPrivateKey, privateKeyIncluded } from '../pki/index.ts';

// No private key anywhere in the body (README, "REST API"). Runs before validation, over every string in the
// parsed JSON (also fields no schema names), so a key pasted into `description` or an extra field is refused
// too. The error names the field, never the key.
const findPrivateKey = (value: unknown, path: string, depth = 0): string | undefined => {
  if (typeof value === 'string') return containsPrivateKey(value) ? path : undefined;
  if (typeof value !== 'object' || value === null || depth > 32) return undefined;
  for (const [key, child] of Object.entries(value)) {
    const found = findPrivateKey(child, Array.isArray(value) ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`, depth + 1);
    if (found) return found;
  }
  return undefined;
};

export const rejectPrivateKeys: preValidationAsyncHookHandler = async (request) => {
  const field = findPrivateKey(request.body, '');
  if (field !== undefined) throw privateKeyIncluded(field === '' ? 'The body' : field);
};
