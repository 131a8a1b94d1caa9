import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AgentId } from '../../shared/index.ts';
import { auditContextOf } from '../audit-context-of.ts';
import { apiOperation, errors, idParams, type ResourceRoutesOptions } from '../route-kit.ts';
import { agentListFilterOf, AgentListQuery } from './agent-list-query.ts';
import { AgentResource, DoctorBody, DoctorResponse, PatchAgentBody, toAgentResource, toDoctorResponse } from './schemas.ts';

const agents = apiOperation('agents');
const IdParams = idParams<AgentId>();

// Agents onboarded by the broker, and the doctor that explains its decisions in advance.
export const agentRoutes: FastifyPluginAsyncTypebox<ResourceRoutesOptions> = async (app, { registry }) => {
  app.get('/agents', {
    config: { scope: 'mcmqtt.read' },
    schema: {
      ...agents, summary: 'List the tenant\'s agents, optionally only those expiring before a time or using one CA',
      querystring: AgentListQuery, response: { 200: Type.Array(AgentResource), ...errors(400, 401, 403) },
    },
  }, async (request) => (await registry.listAgents(request.principal.tenant, agentListFilterOf(request.query))).map(toAgentResource));

  app.get('/agents/:id', {
    config: { scope: 'mcmqtt.read' },
    schema: { ...agents, summary: 'Get an agent', params: IdParams, response: { 200: AgentResource, ...errors(401, 403, 404) } },
  }, async (request) => toAgentResource(await registry.findAgent(request.principal.tenant, request.params.id)));

  app.patch('/agents/:id', {
    config: { scope: 'mcmqtt.admin' },
    schema: {
      ...agents, summary: 'Enable or disable an agent (disabling closes its session)',
      params: IdParams, body: PatchAgentBody, response: { 200: AgentResource, ...errors(400, 401, 403, 404, 415) },
    },
  }, async (request) => {
    const agent = await registry.setAgentEnabled(request.principal.tenant, request.params.id, request.body.enabled, auditContextOf(request));
    request.log.info({ agentId: agent.id, clientId: agent.clientId, enabled: agent.isEnabled }, agent.isEnabled ? 'agent enabled' : 'agent disabled');
    return toAgentResource(agent);
  });

  app.delete('/agents/:id', {
    config: { scope: 'mcmqtt.admin' },
    schema: { ...agents, summary: 'Delete an agent (closes its session)', params: IdParams, response: { 204: Type.Null(), ...errors(401, 403, 404) } },
  }, async (request, reply) => {
    await registry.deleteAgent(request.principal.tenant, request.params.id, auditContextOf(request));
    request.log.info({ agentId: request.params.id }, 'agent deleted');
    return reply.code(204).send(null);
  });

  app.post('/agents/doctor', {
    config: { scope: 'mcmqtt.read' },
    schema: {
      ...agents, summary: 'Would the broker accept this agent certificate? Step by step, without connecting',
      body: DoctorBody, response: { 200: DoctorResponse, ...errors(400, 401, 403, 413, 415) },
    },
  }, async (request) => toDoctorResponse(await registry.diagnoseAgentCertificate({
    tenant: request.principal.tenant,
    agentCertificatePem: request.body.agentCertificate,
    clientId: request.body.clientId,
  })));
};
