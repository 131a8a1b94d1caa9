import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { CaCertificateId } from '../../shared/index.ts';
import { apiOperation, errors, idParams, type ResourceRoutesOptions } from '../route-kit.ts';
import {
  CaCertificateResource, RegistrationCodeResponse, UploadCaCertificateBody, VerifyCaCertificateBody,
  toCaCertificateResource,
} from './schemas.ts';

const caCertificates = apiOperation('caCertificates');
const IdParams = idParams<CaCertificateId>();

// MindConnect MQTT v3 caCertificates, mounted under /api/mindconnectmqtt/v3.
export const caCertificateRoutes: FastifyPluginAsyncTypebox<ResourceRoutesOptions> = async (app, { registry }) => {
  app.post('/caCertificates', {
    config: { scope: 'mcmqtt.admin' },
    schema: {
      ...caCertificates, summary: 'Upload a CA certificate',
      body: UploadCaCertificateBody,
      response: { 201: CaCertificateResource, ...errors(400, 401, 403, 409, 413, 415) },
    },
  }, async (request, reply) => {
    const record = await registry.registerCaCertificate({
      tenant: request.principal.tenant,
      name: request.body.name,
      description: request.body.description,
      caCertificatePem: request.body.caCertificate,
    });
    request.log.info({ caCertificateId: record.id, fingerprint: record.fingerprintSha256 }, 'CA certificate uploaded');
    return reply.code(201).send(toCaCertificateResource(record));
  });

  app.get('/caCertificates', {
    config: { scope: 'mcmqtt.read' },
    schema: { ...caCertificates, summary: 'List the tenant\'s CA certificates', response: { 200: Type.Array(CaCertificateResource), ...errors(401, 403) } },
  }, async (request) => (await registry.listCaCertificates(request.principal.tenant)).map(toCaCertificateResource));

  app.get('/caCertificates/:id', {
    config: { scope: 'mcmqtt.read' },
    schema: { ...caCertificates, summary: 'Get a CA certificate', params: IdParams, response: { 200: CaCertificateResource, ...errors(401, 403, 404) } },
  }, async (request) => toCaCertificateResource(
    await registry.findCaCertificate(request.principal.tenant, request.params.id)));

  app.delete('/caCertificates/:id', {
    config: { scope: 'mcmqtt.admin' },
    schema: { ...caCertificates, summary: 'Delete a CA certificate', params: IdParams, response: { 204: Type.Null(), ...errors(401, 403, 404) } },
  }, async (request, reply) => {
    await registry.deleteCaCertificate(request.principal.tenant, request.params.id);
    request.log.info({ caCertificateId: request.params.id }, 'CA certificate deleted');
    return reply.code(204).send(null);
  });

  // The public how-to's sample request uses the shorthand path; answer it the same way.
  for (const url of ['/caCertificates/:id/registrationCode', '/:id/registrationCode']) {
    app.get(url, {
      config: { scope: 'mcmqtt.read' },
      schema: { ...caCertificates, summary: 'Get the registration code of a CA certificate', params: IdParams, response: { 200: RegistrationCodeResponse, ...errors(401, 403, 404) } },
    }, async (request) =>
      ({ registrationCode: await registry.getRegistrationCode(request.principal.tenant, request.params.id) }));
  }

  app.post('/caCertificates/:id/verify', {
    config: { scope: 'mcmqtt.admin' },
    schema: {
      ...caCertificates, summary: 'Verify a CA certificate with a verification certificate',
      params: IdParams, body: VerifyCaCertificateBody,
      response: { 200: CaCertificateResource, ...errors(400, 401, 403, 404, 409, 413, 415) },
    },
  }, async (request) => {
    const record = await registry.verifyCaCertificate({
      tenant: request.principal.tenant,
      id: request.params.id,
      verificationCertificatePem: request.body.verificationCertificate,
    });
    request.log.info({ caCertificateId: record.id }, 'CA certificate verified');
    return toCaCertificateResource(record);
  });
};
