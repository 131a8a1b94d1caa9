import { SignJWT } from 'jose';
import { DEV_ALGORITHM, DEV_AUDIENCE, DEV_ISSUER, DEV_TOKEN_MAX_TTL_SECONDS, type DevSigningKey } from './dev-issuer.ts';

export interface MintDevTokenInput {
  readonly tenant: string;
  readonly scopes: readonly string[];
  readonly ttlSeconds: number;
  readonly subject?: string;
}

export const mintDevToken = async (key: DevSigningKey, { tenant, scopes, ttlSeconds, subject }: MintDevTokenInput): Promise<string> => {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds > DEV_TOKEN_MAX_TTL_SECONDS) {
    throw new RangeError(`A dev token lives at most ${DEV_TOKEN_MAX_TTL_SECONDS / 86_400} days (${DEV_TOKEN_MAX_TTL_SECONDS} s); ${ttlSeconds} s is longer. Mint a new one when it expires.`);
  }
  return new SignJWT({ ten: tenant, scope: scopes.join(' ') })
    .setProtectedHeader({ alg: DEV_ALGORITHM, kid: key.publicJwk.kid, typ: 'JWT' })
    .setIssuer(DEV_ISSUER)
    .setAudience(DEV_AUDIENCE)
    .setSubject(subject ?? `dev-user@${tenant}`)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(key.privateKey);
};
