import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPrivateKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, UnsecuredJWT, type JWK } from 'jose';
import { isDomainError } from '../shared/index.ts';
import {
  AGENT_TOKEN_AUDIENCE, AGENT_TOKEN_ISSUER, AGENT_TOKEN_SCOPE, AGENT_TOKEN_TYPE, generateAgentTokenKey, looksLikeAgentToken, signAgentToken,
} from './agent-token.ts';
import { cachingTokenVerifier } from './caching-token-verifier.ts';
import { DEV_AUDIENCE, DEV_ISSUER, loadOrCreateDevSigningKey, type DevSigningKey } from './dev-issuer.ts';
import { mintDevToken } from './mint-dev-token.ts';
import { createDevTokenVerifier, createExternalTokenVerifier } from './token-verifier.ts';

// Issue 19 part 1: an agent token's claims, and that no verifier of trustgate's APIs accepts one
// (auth.agentTokenRefused), whichever key set it is checked against.

const isRefusedAsAgentToken = (error: unknown): boolean => isDomainError(error) && error.code === 'auth.agentTokenRefused';

describe('agent access tokens', () => {
  let dir: string;
  let devKey: DevSigningKey;
  let agentKey: Awaited<ReturnType<typeof generateAgentTokenKey>>;
  let token: string;
  let jwks: Server;
  let jwksUrl: string;
  const issuedAt = new Date();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trustgate-agent-token-'));
    devKey = await loadOrCreateDevSigningKey(dir);
    agentKey = await generateAgentTokenKey(issuedAt);
    token = await signAgentToken(createPrivateKey(agentKey.privateKeyPem), agentKey.kid, { tenant: 'acme', clientId: 'acme_pump-1', jti: 'jti-1', issuedAt });
    // trustgate's /.well-known/jwks.json as it is: both kinds of key in one set.
    jwks = createServer((_request, response) => response.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [devKey.publicJwk, agentKey.publicJwk] })));
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  after(async () => {
    await new Promise((resolve) => jwks.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('carries sub = client id, ten, the agent scope, 1 hour, jti, iat, its own issuer, audience, typ and kid; ES256 over the published key', async () => {
    const header = decodeProtectedHeader(token);
    assert.deepEqual(header, { alg: 'ES256', kid: agentKey.kid, typ: AGENT_TOKEN_TYPE });
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: [agentKey.publicJwk] }), {
      issuer: AGENT_TOKEN_ISSUER, audience: AGENT_TOKEN_AUDIENCE, algorithms: ['ES256'], typ: AGENT_TOKEN_TYPE, currentDate: issuedAt,
    });
    const iat = Math.floor(issuedAt.getTime() / 1000);
    assert.deepEqual(payload, {
      ten: 'acme', client_id: 'acme_pump-1', scope: [AGENT_TOKEN_SCOPE], iss: AGENT_TOKEN_ISSUER, aud: AGENT_TOKEN_AUDIENCE, sub: 'acme_pump-1', jti: 'jti-1', iat, exp: iat + 3600,
    });
    assert.equal(agentKey.publicJwk.d, undefined, 'the public JWK holds no private part');
    assert.notEqual(agentKey.kid, devKey.publicJwk.kid);
  });

  it('the dev issuer\'s verifier (and its cache) refuse it as an agent token, also when its key set holds the agent key', async () => {
    for (const verifier of [createDevTokenVerifier(devKey.publicJwk), createDevTokenVerifier(agentKey.publicJwk), cachingTokenVerifier(createDevTokenVerifier(agentKey.publicJwk))]) {
      await assert.rejects(verifier.verify(token), isRefusedAsAgentToken);
    }
    // The dev token itself still passes: the check is by what the token says, not by its key set.
    const devToken = await mintDevToken(devKey, { tenant: 'acme', scopes: ['mcmqtt.admin'], ttlSeconds: 600 });
    assert.equal((await createDevTokenVerifier(devKey.publicJwk).verify(devToken)).tenant, 'acme');
  });

  it('an expired agent token, and another tenant\'s, are refused as agent tokens by every verifier (never "expired", never accepted)', async () => {
    // Final attack pass (issue 19): whatever its age or tenant, the refusal comes before the
    // signature and expiry checks, so an old or foreign agent token learns nothing and opens nothing.
    const longAgo = new Date(issuedAt.getTime() - 2 * 3_600_000);
    const expired = await signAgentToken(createPrivateKey(agentKey.privateKeyPem), agentKey.kid, { tenant: 'acme', clientId: 'acme_pump-1', jti: 'jti-old', issuedAt: longAgo });
    const otherTenant = await signAgentToken(createPrivateKey(agentKey.privateKeyPem), agentKey.kid, { tenant: 'globex', clientId: 'globex_pump-1', jti: 'jti-g', issuedAt });
    const verifiers = [
      createDevTokenVerifier(devKey.publicJwk), cachingTokenVerifier(createDevTokenVerifier(agentKey.publicJwk)),
      createExternalTokenVerifier({ jwksUrl, issuer: AGENT_TOKEN_ISSUER, audience: AGENT_TOKEN_AUDIENCE }),
    ];
    for (const verifier of verifiers) {
      for (const candidate of [expired, otherTenant]) await assert.rejects(verifier.verify(candidate), isRefusedAsAgentToken);
    }
  });

  it('an external IdP setting pointed at trustgate\'s own JWKS, even with the agent issuer and audience, refuses it', async () => {
    const settings = [
      { issuer: AGENT_TOKEN_ISSUER, audience: AGENT_TOKEN_AUDIENCE },
      { issuer: DEV_ISSUER, audience: DEV_AUDIENCE },
    ];
    for (const { issuer, audience } of settings) {
      const verifier = createExternalTokenVerifier({ jwksUrl, issuer, audience });
      await assert.rejects(verifier.verify(token), isRefusedAsAgentToken, `${issuer}`);
    }
  });

  it('a token marked as an agent token in any one way is refused; forged ones (alg none, HS256 with the public key) too', async () => {
    const oneMark = async (mark: 'typ' | 'iss' | 'aud'): Promise<string> => new SignJWT({ ten: 'acme', scope: 'mcmqtt.admin' })
      .setProtectedHeader({ alg: 'ES256', kid: devKey.publicJwk.kid, ...(mark === 'typ' ? { typ: AGENT_TOKEN_TYPE } : {}) })
      .setIssuer(mark === 'iss' ? AGENT_TOKEN_ISSUER : DEV_ISSUER)
      .setAudience(mark === 'aud' ? [DEV_AUDIENCE, AGENT_TOKEN_AUDIENCE] : DEV_AUDIENCE)
      .setIssuedAt().setExpirationTime('10m').sign(devKey.privateKey);
    for (const mark of ['typ', 'iss', 'aud'] as const) {
      const marked = await oneMark(mark);
      assert.equal(looksLikeAgentToken(marked), true, mark);
      await assert.rejects(createDevTokenVerifier(devKey.publicJwk).verify(marked), isRefusedAsAgentToken, mark);
    }
    const claims = decodeJwt(token);
    const none = new UnsecuredJWT(claims).encode();
    const publicJwk: JWK = agentKey.publicJwk;
    const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: agentKey.kid, typ: AGENT_TOKEN_TYPE })
      .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
    for (const forged of [none, hs256]) {
      await assert.rejects(createDevTokenVerifier(devKey.publicJwk).verify(forged), isRefusedAsAgentToken);
      // What a consumer of agent tokens does (docs/deployment.md): pin ES256 and the JWKS; both fail.
      await assert.rejects(jwtVerify(forged, createLocalJWKSet({ keys: [publicJwk] }), { algorithms: ['ES256'], issuer: AGENT_TOKEN_ISSUER }));
    }
  });

  it('a real agent token re-encoded by an outsider (header/payload edited, duplicate keys, whitespace, padding, JSON serialization) opens nothing: 401, never accepted, never a 5xx', async () => {
    // Security review of decision 0033: an outsider holds an agent token and re-encodes it without
    // the agent key. The worst verifier: trustgate's own JWKS with the agent issuer and audience.
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const json = (segment: string): Record<string, unknown> => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');
    const withHeader = (text: string): string => `${b64(text)}.${payload}.${signature}`;
    const withPayload = (text: string): string => `${header}.${b64(text)}.${signature}`;
    const { typ: _typ, ...untyped } = json(header);
    const claims = json(payload);
    const variants: [string, string][] = [
      ['typ removed', withHeader(JSON.stringify(untyped))],
      ['typ case-changed', withHeader(JSON.stringify({ ...untyped, typ: 'Trustgate-Agent+JWT' }))],
      ['kid of the dev key', withHeader(JSON.stringify({ ...json(header), kid: devKey.publicJwk.kid }))],
      ['typ twice, the last one JWT (JSON.parse: last wins, as in jose)', withHeader(`{"alg":"ES256","kid":"${agentKey.kid}","typ":"${AGENT_TOKEN_TYPE}","typ":"JWT"}`)],
      ['header with whitespace', withHeader(JSON.stringify(json(header), null, 1))],
      ['iss as an array', withPayload(JSON.stringify({ ...claims, iss: [AGENT_TOKEN_ISSUER] }))],
      ['aud with both audiences', withPayload(JSON.stringify({ ...claims, aud: [DEV_AUDIENCE, AGENT_TOKEN_AUDIENCE] }))],
      ['iss and aud of the dev issuer', withPayload(JSON.stringify({ ...claims, iss: DEV_ISSUER, aud: DEV_AUDIENCE }))],
      ['iss twice, the last one the dev issuer', withPayload(JSON.stringify(claims).replace(/}$/, `,"iss":"${DEV_ISSUER}","aud":"${DEV_AUDIENCE}"}`))],
      ['base64 padding on each part', `${header}==.${payload}=.${signature}=`],
      ['standard base64 alphabet', token.replaceAll('-', '+').replaceAll('_', '/')],
      ['a trailing newline (an MQTT password is any bytes)', `${token}\n`],
      ['JWS JSON serialization', JSON.stringify({ protected: header, payload, signature })],
      ['five parts (JWE shape)', `${token}.x.y`],
      ['signature dropped', `${header}.${payload}.`],
    ];
    const verifiers = [
      createExternalTokenVerifier({ jwksUrl, issuer: AGENT_TOKEN_ISSUER, audience: AGENT_TOKEN_AUDIENCE }),
      createExternalTokenVerifier({ jwksUrl, issuer: DEV_ISSUER, audience: DEV_AUDIENCE }),
      createDevTokenVerifier(devKey.publicJwk),
      cachingTokenVerifier(createDevTokenVerifier(agentKey.publicJwk)),
    ];
    for (const [what, variant] of variants) {
      for (const [index, verifier] of verifiers.entries()) {
        await assert.rejects(verifier.verify(variant), (error: unknown) => isDomainError(error) && ['auth.agentTokenRefused', 'auth.tokenInvalid'].includes(error.code),
          `${what} (verifier ${index})`);
      }
    }
  });

  it('a malformed token is not called an agent token: the verifier says what is wrong with it', async () => {
    assert.equal(looksLikeAgentToken('not.a.jwt'), false);
    await assert.rejects(createDevTokenVerifier(devKey.publicJwk).verify('not.a.jwt'), (error: unknown) => isDomainError(error) && error.code === 'auth.tokenInvalid');
  });
});
