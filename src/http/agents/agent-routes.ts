import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { TokenVerifier } from '../../auth/index.ts';
import type { Registry } from '../../registry/index.ts';
import type { AgentId } from '../../shared/index.ts';
import { authenticate, principalOf } from '../authenticate.ts';
import { ErrorBody } from '../error-body.ts';
import { IdParams } from '../ca-certificates/schemas.ts';
import { AgentResource, DoctorBody, DoctorResponse, PatchAgentBody, toAgentResource, toDoctorResponse } from './schemas.ts';

export interface AgentRoutesOptions {
  readonly registry: Registry;
  readonly tokens: TokenVerifier;
}

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, ErrorBody]));
const tags = ['agents'];
const security = [{ bearerAuth: [] }];

// Agents onboarded by the broker, and the doctor that explains its decisions in advance.
export const agentRoutes: FastifyPluginAsync<AgentRoutesOptions> = async (plugin, { registry, tokens }) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  const read = authenticate(tokens, 'mcmqtt.read');
  const admin = authenticate(tokens, 'mcmqtt.admin');

  app.get('/agents', {
    onRequest: read,
    schema: { tags, security, summary: 'List the tenant\'s agents', response: { 200: Type.Array(AgentResource), ...errors(401, 403) } },
  }, async (request) => (await registry.listAgents(principalOf(request).tenant)).map(toAgentResource));

  app.get('/agents/:id', {
    onRequest: read,
    schema: { tags, security, summary: 'Get an agent', params: IdParams, response: { 200: AgentResource, ...errors(401, 403, 404) } },
  }, async (request) => toAgentResource(await registry.findAgent(principalOf(request).tenant, request.params.id as AgentId)));

  app.patch('/agents/:id', {
    onRequest: admin,
    schema: {
      tags, security, summary: 'Enable or disable an agent (disabling closes its session)',
      params: IdParams, body: PatchAgentBody, response: { 200: AgentResource, ...errors(400, 401, 403, 404, 415) },
    },
  }, async (request) => {
    const agent = await registry.setAgentEnabled(principalOf(request).tenant, request.params.id as AgentId, request.body.enabled);
    request.log.info({ agentId: agent.id, enabled: agent.isEnabled }, 'agent updated');
    return toAgentResource(agent);
  });

  app.delete('/agents/:id', {
    onRequest: admin,
    schema: { tags, security, summary: 'Delete an agent (closes its session)', params: IdParams, response: { 204: Type.Null(), ...errors(401, 403, 404) } },
  }, async (request, reply) => {
    await registry.deleteAgent(principalOf(request).tenant, request.params.id as AgentId);
    request.log.info({ agentId: request.params.id }, 'agent deleted');
    return reply.code(204).send(null);
  });

  app.post('/agents/doctor', {
    onRequest: read,
    schema: {
      tags, security, summary: 'Would the broker accept this agent certificate? Step by step, without connecting',
      body: DoctorBody, response: { 200: DoctorResponse, ...errors(400, 401, 403, 413, 415) },
    },
  }, async (request) => toDoctorResponse(await registry.diagnoseAgentCertificate({
    tenant: principalOf(request).tenant,
    agentCertificatePem: request.body.agentCertificate,
    clientId: request.body.clientId,
  })));
};
