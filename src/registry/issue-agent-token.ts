import { randomUUID } from 'node:crypto';
import { type Clock, DomainError, type TenantId } from '../shared/index.ts';
import { auditEntryOf, type AuditContext } from './audit-context.ts';
import type { AuditTrail } from './audit-trail.ts';

// Issue 19 part 1 (SPEC "MindConnect commanding, agent tokens, events out"): an agent with a live
// mutual-TLS session asks for an access token; it gets one at most once a minute. Who the agent is
// was settled by the broker (its certificate, its own o/ topic); this decides the limit, signs
// through the port and records the grant.

/** At most one token request per agent per this window (issue 19: "at most one request per agent per minute"). */
export const AGENT_TOKEN_REQUEST_INTERVAL_MS = 60_000;

export interface AgentTokenSigner {
  sign(claims: { readonly tenant: string; readonly clientId: string; readonly jti: string }): Promise<{
    readonly token: string; readonly kid: string; readonly expiresInSeconds: number; readonly scope: readonly string[]; readonly issuedAt: Date;
  }>;
}

/** One request per key per window, across the nodes that share it (Redis in a cluster, memory on one node). */
export interface AgentTokenRequestLimit {
  /** Takes the key's slot: undefined when it was free, else when it frees up. */
  take(key: string, windowMs: number, now: Date): Promise<Date | undefined>;
}

export interface AgentTokenGrant {
  readonly accessToken: string;
  readonly tokenType: 'Bearer';
  readonly expiresInSeconds: number;
  readonly scope: readonly string[];
  readonly jti: string;
  readonly kid: string;
  readonly issuedAt: Date;
}

export interface IssueAgentTokenDependencies {
  readonly signer: AgentTokenSigner;
  readonly limit: AgentTokenRequestLimit;
  readonly audit: AuditTrail;
  readonly clock: Clock;
  readonly newJti?: () => string;
}

export type IssueAgentToken = (agent: { readonly tenant: TenantId; readonly clientId: string }, context: AuditContext) => Promise<AgentTokenGrant>;

export const createIssueAgentToken = ({ signer, limit, audit, clock, newJti = randomUUID }: IssueAgentTokenDependencies): IssueAgentToken =>
  async ({ tenant, clientId }, context) => {
    const retryAt = await limit.take(`${tenant}/${clientId}`, AGENT_TOKEN_REQUEST_INTERVAL_MS, clock.now());
    if (retryAt !== undefined) {
      throw new DomainError('agentToken.rateLimited',
        `This agent asked for an access token less than a minute ago: at most one request per agent per minute. Keep using the token you have (it lives an hour); retry after ${retryAt.toISOString()}.`,
        { details: { retryAt: retryAt.toISOString() } });
    }
    const jti = newJti();
    const signed = await signer.sign({ tenant, clientId, jti });
    // One entry per agent per minute at most (the limit above): bounded, and who holds a token is
    // worth knowing when one leaks. Never the token itself, only its id.
    await audit.record(auditEntryOf(context, {
      time: signed.issuedAt, tenant, action: 'agentToken.issued', target: `agent:${clientId}`, reason: `jti:${jti}`,
    }));
    return { accessToken: signed.token, tokenType: 'Bearer', expiresInSeconds: signed.expiresInSeconds, scope: signed.scope, jti, kid: signed.kid, issuedAt: signed.issuedAt };
  };

/** The limit on one node: slots in memory, the expired ones dropped as they are met. */
export class InMemoryAgentTokenRequestLimit implements AgentTokenRequestLimit {
  readonly #freeAt = new Map<string, number>();

  async take(key: string, windowMs: number, now: Date): Promise<Date | undefined> {
    const nowMs = now.getTime();
    const freeAt = this.#freeAt.get(key);
    if (freeAt !== undefined && freeAt > nowMs) return new Date(freeAt);
    this.#freeAt.set(key, nowMs + windowMs);
    // Bounded by the agents that asked within a window: sweep once it grows.
    if (this.#freeAt.size > 1024) for (const [each, at] of this.#freeAt) if (at <= nowMs) this.#freeAt.delete(each);
    return undefined;
  }
}
