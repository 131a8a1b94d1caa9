import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { TokenVerifier } from '../../auth/index.ts';
import type { Registry } from '../../registry/index.ts';
import type { AgentCertificateId } from '../../shared/index.ts';
import { authenticate, principalOf } from '../authenticate.ts';
import { ErrorBody } from '../error-body.ts';
import { IdParams } from '../ca-certificates/schemas.ts';
import { AgentCertificateResource, CreateAgentCertificateBody, toAgentCertificateResource } from './schemas.ts';

export interface AgentCertificateRoutesOptions {
  readonly registry: Registry;
  readonly tokens: TokenVerifier;
}

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, ErrorBody]));
const tags = ['agentCertificates'];
const security = [{ bearerAuth: [] }];

// MindConnect's auto-generated agent certificates, issued by the tenant's managed CA.
export const agentCertificateRoutes: FastifyPluginAsync<AgentCertificateRoutesOptions> = async (plugin, { registry, tokens }) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  const read = authenticate(tokens, 'mcmqtt.read');
  const admin = authenticate(tokens, 'mcmqtt.admin');

  app.post('/agentCertificates', {
    onRequest: admin,
    schema: {
      tags, security,
      summary: 'Issue an agent certificate from the tenant\'s managed CA (with a generated key, or for a CSR)',
      body: CreateAgentCertificateBody,
      response: { 201: AgentCertificateResource, ...errors(400, 401, 403, 409, 413, 415) },
    },
  }, async (request, reply) => {
    const created = await registry.createAgentCertificate({
      tenant: principalOf(request).tenant,
      name: request.body.name,
      owner: request.body.owner,
      csrPem: request.body.csr,
    });
    // Never the key: only what identifies the certificate.
    request.log.info({ agentCertificateId: created.certificate.id, fingerprint: created.certificate.fingerprintSha256, keySource: created.certificate.keySource }, 'agent certificate issued');
    // The answer may carry a private key: no cache anywhere may keep it.
    return reply.code(201).header('cache-control', 'no-store').send(toAgentCertificateResource(created));
  });

  app.get('/agentCertificates', {
    onRequest: read,
    schema: { tags, security, summary: 'List the tenant\'s agent certificates (without private keys)', response: { 200: Type.Array(AgentCertificateResource), ...errors(401, 403) } },
  }, async (request) => (await registry.listAgentCertificates(principalOf(request).tenant)).map(toAgentCertificateResource));

  app.get('/agentCertificates/:id', {
    onRequest: read,
    schema: { tags, security, summary: 'Get an agent certificate (without its private key)', params: IdParams, response: { 200: AgentCertificateResource, ...errors(401, 403, 404) } },
  }, async (request) => toAgentCertificateResource(await registry.findAgentCertificate(principalOf(request).tenant, request.params.id as AgentCertificateId)));

  app.delete('/agentCertificates/:id', {
    onRequest: admin,
    schema: {
      tags, security, summary: 'Revoke an agent certificate: the broker refuses it and closes sessions using it',
      params: IdParams, response: { 204: Type.Null(), ...errors(401, 403, 404) },
    },
  }, async (request, reply) => {
    await registry.revokeAgentCertificate(principalOf(request).tenant, request.params.id as AgentCertificateId);
    request.log.info({ agentCertificateId: request.params.id }, 'agent certificate revoked');
    return reply.code(204).send(null);
  });
};
