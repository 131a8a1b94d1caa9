import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AgentCertificateId } from '../../shared/index.ts';
import { auditContextOf } from '../audit-context-of.ts';
import { apiOperation, errors, idParams, type ResourceRoutesOptions } from '../route-kit.ts';
import { AgentCertificateResource, CreateAgentCertificateBody, RenewAgentCertificateBody, toAgentCertificateResource } from './schemas.ts';

const agentCertificates = apiOperation('agentCertificates');
const IdParams = idParams<AgentCertificateId>();

// MindConnect's auto-generated agent certificates, issued by the tenant's managed CA.
export const agentCertificateRoutes: FastifyPluginAsyncTypebox<ResourceRoutesOptions> = async (app, { registry }) => {
  app.post('/agentCertificates', {
    config: { scope: 'mcmqtt.admin' },
    schema: {
      ...agentCertificates,
      summary: 'Issue an agent certificate from the tenant\'s managed CA (with a generated key, or for a CSR)',
      body: CreateAgentCertificateBody,
      response: { 201: AgentCertificateResource, ...errors(400, 401, 403, 409, 413, 415) },
    },
  }, async (request, reply) => {
    const created = await registry.createAgentCertificate({
      tenant: request.principal.tenant,
      name: request.body.name,
      owner: request.body.owner,
      csrPem: request.body.csr,
    }, auditContextOf(request));
    // Never the key: only what identifies the certificate.
    request.log.info({ agentCertificateId: created.certificate.id, fingerprint: created.certificate.fingerprintSha256, keySource: created.certificate.keySource }, 'agent certificate issued');
    // The answer may carry a private key: no cache anywhere may keep it.
    return reply.code(201).header('cache-control', 'no-store').send(toAgentCertificateResource(created));
  });

  app.get('/agentCertificates', {
    config: { scope: 'mcmqtt.read' },
    schema: { ...agentCertificates, summary: 'List the tenant\'s agent certificates (without private keys)', response: { 200: Type.Array(AgentCertificateResource), ...errors(401, 403) } },
  }, async (request) => (await registry.listAgentCertificates(request.principal.tenant)).map(toAgentCertificateResource));

  app.get('/agentCertificates/:id', {
    config: { scope: 'mcmqtt.read' },
    schema: { ...agentCertificates, summary: 'Get an agent certificate (without its private key)', params: IdParams, response: { 200: AgentCertificateResource, ...errors(401, 403, 404) } },
  }, async (request) => toAgentCertificateResource(await registry.findAgentCertificate(request.principal.tenant, request.params.id)));

  // The API door of renewal over MQTT (README, "Certificate renewal over MQTT"): same rules, same hourly limit per agent.
  app.post('/agentCertificates/:id/renew', {
    config: { scope: 'mcmqtt.admin' },
    schema: {
      ...agentCertificates,
      summary: 'Renew an agent certificate for a CSR with the same CN: a new certificate (a new record) for the same agent; the old one stays valid until it expires or is revoked. At most one renewal per agent per hour',
      params: IdParams, body: RenewAgentCertificateBody,
      response: { 201: AgentCertificateResource, ...errors(400, 401, 403, 404, 409, 413, 415, 429) },
    },
  }, async (request, reply) => {
    const renewed = await registry.renewAgentCertificate({
      tenant: request.principal.tenant,
      subject: { kind: 'certificate', agentCertificateId: request.params.id },
      csrPem: request.body.csr,
    }, auditContextOf(request));
    request.log.info({ agentCertificateId: renewed.certificate.id, renewalOf: request.params.id, fingerprint: renewed.certificate.fingerprintSha256 }, 'agent certificate renewed');
    return reply.code(201).header('cache-control', 'no-store').send(toAgentCertificateResource(renewed));
  });

  app.delete('/agentCertificates/:id', {
    config: { scope: 'mcmqtt.admin' },
    schema: {
      ...agentCertificates, summary: 'Revoke an agent certificate: the broker refuses it and closes sessions using it',
      params: IdParams, response: { 204: Type.Null(), ...errors(401, 403, 404) },
    },
  }, async (request, reply) => {
    await registry.revokeAgentCertificate(request.principal.tenant, request.params.id, auditContextOf(request));
    request.log.info({ agentCertificateId: request.params.id }, 'agent certificate revoked');
    return reply.code(204).send(null);
  });
};
