/**
 * How far the database's trust state has moved: a number every trust-relevant write (a CA
 * registered, verified or deleted, a managed CA created, an agent certificate revoked, an agent
 * disabled or deleted) changes in its own transaction (storage: a counter bumped by triggers).
 * A node that read value v and then loaded the store has applied every change counted up to v;
 * a later different value means it may have missed one (decision 0018).
 */
export interface TrustChangeCounter {
  /** The committed value now. */
  read(): Promise<string>;
}
