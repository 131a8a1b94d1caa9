import { randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, exportJWK, exportPKCS8, generateKeyPair, SignJWT, type JWK } from 'jose';
import { DomainError } from '../shared/index.ts';

// Agent access tokens (SPEC "MindConnect commanding, agent tokens, events out"; issue 19 part 1;
// docs/decisions/0033-agent-access-tokens.md): what an agent gets on i/agm_v3/tr. Signed with a
// key of their own (never the dev issuer's) and marked three ways — issuer, audience and the JWS
// `typ` header (RFC 8725 §3.11, explicit typing) — so that no verifier of trustgate's REST APIs or
// MQTT passwords can mistake one for a tenant application's token, even where one JWKS publishes
// both kinds of key (the dev issuer's /.well-known/jwks.json).

export const AGENT_TOKEN_ISSUER = 'urn:trustgate:agent-token-issuer';
export const AGENT_TOKEN_AUDIENCE = 'urn:trustgate:agent';
export const AGENT_TOKEN_TYPE = 'trustgate-agent+jwt';
export const AGENT_TOKEN_ALGORITHM = 'ES256';
/** MindConnect's agent scope; the only one an agent token carries. */
export const AGENT_TOKEN_SCOPE = 'mdsp:core:DefaultAgent';
export const AGENT_TOKEN_TTL_SECONDS = 3600;

/** One signing key: its private half as PKCS#8 PEM (sealed at rest by the store), its public JWK with `kid`. */
export interface AgentTokenKey {
  readonly kid: string;
  readonly publicJwk: JWK;
  readonly privateKeyPem: string;
  readonly createdAt: Date;
  /** When it starts signing: later than `createdAt` during a rotation, so every node publishes it first. */
  readonly signsFrom: Date;
}

export const generateAgentTokenKey = async (createdAt: Date, signsFrom: Date = createdAt): Promise<AgentTokenKey> => {
  const { privateKey, publicKey } = await generateKeyPair(AGENT_TOKEN_ALGORITHM, { extractable: true });
  const kid = `agent-${randomBytes(8).toString('hex')}`;
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: AGENT_TOKEN_ALGORITHM, use: 'sig' };
  return { kid, publicJwk, privateKeyPem: await exportPKCS8(privateKey), createdAt, signsFrom };
};

export interface AgentTokenClaimsInput {
  readonly tenant: string;
  readonly clientId: string;
  readonly jti: string;
  readonly issuedAt: Date;
}

/** Signs an agent token with `key` (a CryptoKey or KeyObject of an `AgentTokenKey`). */
export const signAgentToken = (key: Parameters<SignJWT['sign']>[0], kid: string, { tenant, clientId, jti, issuedAt }: AgentTokenClaimsInput): Promise<string> => {
  const iat = Math.floor(issuedAt.getTime() / 1000);
  // `client_id` too: RFC 9068 §2.2 names the client an access token was issued to.
  return new SignJWT({ ten: tenant, client_id: clientId, scope: [AGENT_TOKEN_SCOPE] })
    .setProtectedHeader({ alg: AGENT_TOKEN_ALGORITHM, kid, typ: AGENT_TOKEN_TYPE })
    .setIssuer(AGENT_TOKEN_ISSUER)
    .setAudience(AGENT_TOKEN_AUDIENCE)
    .setSubject(clientId)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(iat + AGENT_TOKEN_TTL_SECONDS)
    .sign(key);
};

/** Whether a compact JWT says it is an agent token (by its header or claims; the signature is not looked at). */
export const looksLikeAgentToken = (token: string): boolean => {
  try {
    if (decodeProtectedHeader(token).typ === AGENT_TOKEN_TYPE) return true;
    const { iss, aud } = decodeJwt(token);
    return iss === AGENT_TOKEN_ISSUER || aud === AGENT_TOKEN_AUDIENCE || (Array.isArray(aud) && aud.includes(AGENT_TOKEN_AUDIENCE));
  } catch {
    return false; // malformed: the verifier says so in its own words
  }
};

/** Throws `auth.agentTokenRefused` for an agent token: an agent's token is for the agent APIs,
 *  never for trustgate's REST APIs or a tenant application's MQTT password. */
export const refuseAgentToken = (token: string): void => {
  if (looksLikeAgentToken(token)) {
    throw new DomainError('auth.agentTokenRefused',
      'The Bearer token is an agent access token (issued to an agent over MQTT on i/agm_v3/tr): it is not accepted here. Use a token issued to a tenant application (scope mcmqtt.read or mcmqtt.admin).');
  }
};
