import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Commanding } from '../../registry/index.ts';
import { auditContextOf } from '../audit-context-of.ts';
import { apiOperation, errors, idParams } from '../route-kit.ts';
import {
  CommandListResource, CreateDeliveryJobBody, DeliveryJobPageResource, DeliveryJobQuery, DeliveryJobResource, toCommandListResource,
  toDeliveryJobPageResource, toDeliveryJobResource,
} from './schemas.ts';

/** MindConnect's Commanding API base path: a second prefix on the same server, token and error body. */
export const COMMANDING_BASE_PATH = '/api/commanding/v3';

const deliveryJobs = apiOperation('deliveryJobs');
const IdParams = idParams<string>();

// Issue 19 part 2 (docs/commanding.md): delivery jobs send a command to 1–20 agents of the tenant.
// Reading needs mcmqtt.read; creating and canceling mcmqtt.admin. A job or client id of another
// tenant is answered exactly as an unknown one (404).
export const deliveryJobRoutes: FastifyPluginAsyncTypebox<{ commanding: Commanding }> = async (app, { commanding }) => {
  app.post('/deliveryJobs', {
    config: { scope: 'mcmqtt.admin' },
    schema: {
      ...deliveryJobs, summary: 'Send a command to up to 20 agents',
      description: 'Each agent receives {"id": <command id>, "data": {"jobId", "createdAt", "payload": <data>}} on tc/<tenant>/<clientId>/i/cmd_v3/c (QoS 1), '
        + 'now or when it next connects, and reports on o/cmd_v3/u.',
      body: CreateDeliveryJobBody, response: { 201: DeliveryJobResource, ...errors(400, 401, 403, 404, 413, 415) },
    },
  }, async (request, reply) => {
    const { name, clientIds, data } = request.body;
    const job = await commanding.createDeliveryJob({ tenant: request.principal.tenant, name, clientIds, data }, auditContextOf(request));
    request.log.info({ deliveryJobId: job.id, clientIds: job.clientIds.length }, 'delivery job created');
    return reply.code(201).send(toDeliveryJobResource(job));
  });

  app.get('/deliveryJobs', {
    config: { scope: 'mcmqtt.read' },
    schema: { ...deliveryJobs, summary: 'List the tenant\'s delivery jobs, newest first, a page at a time', querystring: DeliveryJobQuery, response: { 200: DeliveryJobPageResource, ...errors(400, 401, 403) } },
  }, async (request) => toDeliveryJobPageResource(await commanding.listDeliveryJobs({ tenant: request.principal.tenant, ...request.query })));

  app.get('/deliveryJobs/:id', {
    config: { scope: 'mcmqtt.read' },
    schema: { ...deliveryJobs, summary: 'Get a delivery job', params: IdParams, response: { 200: DeliveryJobResource, ...errors(401, 403, 404) } },
  }, async (request) => toDeliveryJobResource(await commanding.findDeliveryJob(request.principal.tenant, request.params.id)));

  app.delete('/deliveryJobs/:id', {
    config: { scope: 'mcmqtt.admin' },
    schema: {
      ...deliveryJobs, summary: 'Cancel a delivery job: its undelivered commands are never delivered; the job stays readable as CANCELED',
      params: IdParams, response: { 200: DeliveryJobResource, ...errors(401, 403, 404) },
    },
  }, async (request) => {
    const job = await commanding.cancelDeliveryJob(request.principal.tenant, request.params.id, auditContextOf(request));
    request.log.info({ deliveryJobId: job.id }, 'delivery job canceled');
    return toDeliveryJobResource(job);
  });

  app.get('/deliveryJobs/:id/commands', {
    config: { scope: 'mcmqtt.read' },
    schema: { ...deliveryJobs, summary: 'The job\'s commands: one per client id, with its status and the agent\'s last response', params: IdParams, response: { 200: CommandListResource, ...errors(401, 403, 404) } },
  }, async (request) => toCommandListResource(await commanding.listJobCommands(request.principal.tenant, request.params.id)));
};
