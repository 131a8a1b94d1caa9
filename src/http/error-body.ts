import { Type, type Static } from 'typebox';
import type { ErrorCode } from '../shared/index.ts';

// MindConnect's error body: {"errors":[{"code","logref","message"}]}; logref = the request id,
// which is also in the server log line for the request.
export const ErrorBody = Type.Object({
  errors: Type.Array(Type.Object({
    code: Type.String(),
    logref: Type.String(),
    message: Type.String(),
  })),
}, { $id: 'ErrorBody', description: 'MindConnect error body' });

export type ErrorBody = Static<typeof ErrorBody>;

export const errorBody = (code: ErrorCode, logref: string, message: string): ErrorBody =>
  ({ errors: [{ code, logref, message }] });
