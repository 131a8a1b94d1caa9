import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { TokenVerifier } from '../../auth/index.ts';
import type { Registry } from '../../registry/index.ts';
import type { CaCertificateId } from '../../shared/index.ts';
import { authenticate, principalOf } from '../authenticate.ts';
import { ErrorBody } from '../error-body.ts';
import {
  CaCertificateResource, IdParams, RegistrationCodeResponse, UploadCaCertificateBody, VerifyCaCertificateBody,
  toCaCertificateResource,
} from './schemas.ts';

export interface CaCertificateRoutesOptions {
  readonly registry: Registry;
  readonly tokens: TokenVerifier;
}

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, ErrorBody]));
const tags = ['caCertificates'];
const security = [{ bearerAuth: [] }];

// MindConnect MQTT v3 caCertificates, mounted under /api/mindconnectmqtt/v3.
export const caCertificateRoutes: FastifyPluginAsync<CaCertificateRoutesOptions> = async (plugin, { registry, tokens }) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  const read = authenticate(tokens, 'mcmqtt.read');
  const admin = authenticate(tokens, 'mcmqtt.admin');

  app.post('/caCertificates', {
    onRequest: admin,
    schema: {
      tags, security, summary: 'Upload a CA certificate',
      body: UploadCaCertificateBody,
      response: { 201: CaCertificateResource, ...errors(400, 401, 403, 409, 413, 415) },
    },
  }, async (request, reply) => {
    const record = await registry.registerCaCertificate({
      tenant: principalOf(request).tenant,
      name: request.body.name,
      description: request.body.description,
      caCertificatePem: request.body.caCertificate,
    });
    request.log.info({ caCertificateId: record.id, fingerprint: record.fingerprintSha256 }, 'CA certificate uploaded');
    return reply.code(201).send(toCaCertificateResource(record));
  });

  app.get('/caCertificates', {
    onRequest: read,
    schema: { tags, security, summary: 'List the tenant\'s CA certificates', response: { 200: Type.Array(CaCertificateResource), ...errors(401, 403) } },
  }, async (request) => (await registry.listCaCertificates(principalOf(request).tenant)).map(toCaCertificateResource));

  app.get('/caCertificates/:id', {
    onRequest: read,
    schema: { tags, security, summary: 'Get a CA certificate', params: IdParams, response: { 200: CaCertificateResource, ...errors(401, 403, 404) } },
  }, async (request) => toCaCertificateResource(
    await registry.findCaCertificate(principalOf(request).tenant, request.params.id as CaCertificateId)));

  app.delete('/caCertificates/:id', {
    onRequest: admin,
    schema: { tags, security, summary: 'Delete a CA certificate', params: IdParams, response: { 204: Type.Null(), ...errors(401, 403, 404) } },
  }, async (request, reply) => {
    await registry.deleteCaCertificate(principalOf(request).tenant, request.params.id as CaCertificateId);
    request.log.info({ caCertificateId: request.params.id }, 'CA certificate deleted');
    return reply.code(204).send(null);
  });

  const registrationCode = {
    onRequest: read,
    schema: { tags, security, summary: 'Get the registration code of a CA certificate', params: IdParams, response: { 200: RegistrationCodeResponse, ...errors(401, 403, 404) } },
  };
  app.get('/caCertificates/:id/registrationCode', registrationCode, async (request) =>
    ({ registrationCode: await registry.getRegistrationCode(principalOf(request).tenant, request.params.id as CaCertificateId) }));
  // The public how-to's sample request uses this shorthand path; answer it the same way.
  app.get('/:id/registrationCode', registrationCode, async (request) =>
    ({ registrationCode: await registry.getRegistrationCode(principalOf(request).tenant, request.params.id as CaCertificateId) }));

  app.post('/caCertificates/:id/verify', {
    onRequest: admin,
    schema: {
      tags, security, summary: 'Verify a CA certificate with a verification certificate',
      params: IdParams, body: VerifyCaCertificateBody,
      response: { 200: CaCertificateResource, ...errors(400, 401, 403, 404, 409, 413, 415) },
    },
  }, async (request) => {
    const record = await registry.verifyCaCertificate({
      tenant: principalOf(request).tenant,
      id: request.params.id as CaCertificateId,
      verificationCertificatePem: request.body.verificationCertificate,
    });
    request.log.info({ caCertificateId: record.id }, 'CA certificate verified');
    return toCaCertificateResource(record);
  });
};
