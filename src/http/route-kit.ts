import { Type } from 'typebox';
import type { Registry } from '../registry/index.ts';
import { ErrorBody } from './error-body.ts';
// A route reads `request.principal` and declares `config.scope`: both are typed where they are set.
import type {} from './authenticate.ts';

// The schema pieces every resource's routes share, in one place, so a resource folder imports
// from here and never from a sibling resource's folder.

/** What each resource's route plugin needs: the use cases. The token check is the server's (`authenticate`). */
export interface ResourceRoutesOptions {
  readonly registry: Registry;
}

/** The `:id` path parameter of a single resource, typed as that resource's branded id: the id is
 *  branded here, at the edge, and an unknown one is the use case's 404. */
export const idParams = <Id extends string>() => Type.Object({ id: Type.Unsafe<Id>(Type.String()) });

/** The MindConnect error body for each of these statuses, for a route's `response` map. */
export const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, ErrorBody]));

/** The OpenAPI tag grouping one resource's operations, and the bearer token they all require. */
export const apiOperation = (tag: string) => ({ tags: [tag], security: [{ bearerAuth: [] }] });
