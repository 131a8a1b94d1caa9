import { SignJWT } from 'jose';
import { DEV_ALGORITHM, DEV_AUDIENCE, DEV_ISSUER, type DevSigningKey } from './dev-issuer.ts';

export interface MintDevTokenInput {
  readonly tenant: string;
  readonly scopes: readonly string[];
  readonly ttlSeconds: number;
  readonly subject?: string;
}

export const mintDevToken = async (key: DevSigningKey, { tenant, scopes, ttlSeconds, subject }: MintDevTokenInput): Promise<string> =>
  new SignJWT({ ten: tenant, scope: scopes.join(' ') })
    .setProtectedHeader({ alg: DEV_ALGORITHM, kid: key.publicJwk.kid, typ: 'JWT' })
    .setIssuer(DEV_ISSUER)
    .setAudience(DEV_AUDIENCE)
    .setSubject(subject ?? `dev-user@${tenant}`)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(key.privateKey);
