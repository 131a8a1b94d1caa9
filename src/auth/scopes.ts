// MindConnect MQTT scopes: read for GETs, admin for everything (admin implies read).
export type Scope = 'mcmqtt.read' | 'mcmqtt.admin';

export const SCOPES: readonly Scope[] = ['mcmqtt.read', 'mcmqtt.admin'];

// The `scope` claim may be an array (MindSphere) or a space-separated string (RFC 8693 §4.2).
export const parseScopeClaim = (claim: unknown): string[] => {
  if (typeof claim === 'string') return claim.split(' ').filter((s) => s !== '');
  if (Array.isArray(claim)) return claim.filter((s): s is string => typeof s === 'string');
  return [];
};

export const grants = (held: readonly string[], needed: Scope): boolean =>
  held.includes('mcmqtt.admin') || held.includes(needed);
