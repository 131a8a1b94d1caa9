import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { CaCertificateId } from '../../shared/index.ts';
import { auditContextOf } from '../audit-context-of.ts';
import { apiOperation, errors, idParams, type ResourceRoutesOptions } from '../route-kit.ts';
import {
  CaCertificateResource, CRL_BODY_LIMIT_BYTES, CrlResource, ImportCrlBody, RegistrationCodeResponse, RevokeCertificateBody, RevokedCertificateResource,
  SerialParams, UploadCaCertificateBody, VerifyCaCertificateBody, toCaCertificateResource, toCrlResource, toRevokedCertificateResource,
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
    }, auditContextOf(request));
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
    await registry.deleteCaCertificate(request.principal.tenant, request.params.id, auditContextOf(request));
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
    }, auditContextOf(request));
    request.log.info({ caCertificateId: record.id }, 'CA certificate verified');
    return toCaCertificateResource(record);
  });

  // Issue 15 part 1: revocation by issuer + serial number of certificates this CA issued.
  app.post('/caCertificates/:id/revokedCertificates', {
    config: { scope: 'mcmqtt.admin' },
    schema: {
      ...caCertificates, summary: 'Revoke a certificate this CA issued, by serial number',
      description: 'Live: sessions using the certificate are closed within a second on every node; reconnects are refused (CONNACK 5, mqtt.certificateRevoked). A serial already revoked is a 409 revocation.duplicate.',
      params: IdParams, body: RevokeCertificateBody,
      response: { 201: RevokedCertificateResource, ...errors(400, 401, 403, 404, 409, 415) },
    },
  }, async (request, reply) => {
    const revoked = await registry.revokeSerial({
      tenant: request.principal.tenant, caCertificateId: request.params.id, serialNumber: request.body.serialNumber, reason: request.body.reason,
    }, auditContextOf(request));
    request.log.info({ caCertificateId: request.params.id, serialNumber: revoked.serialNumber, reason: revoked.reason }, 'certificate revoked by serial number');
    return reply.code(201).send(toRevokedCertificateResource(revoked));
  });

  app.get('/caCertificates/:id/revokedCertificates', {
    config: { scope: 'mcmqtt.read' },
    schema: {
      ...caCertificates, summary: 'List the certificates of this CA revoked through the API (CRL entries: GET …/crl)',
      params: IdParams, response: { 200: Type.Array(RevokedCertificateResource), ...errors(401, 403, 404) },
    },
  }, async (request) => (await registry.listRevocations(request.principal.tenant, request.params.id)).map(toRevokedCertificateResource));

  app.delete('/caCertificates/:id/revokedCertificates/:serialNumber', {
    config: { scope: 'mcmqtt.admin' },
    schema: {
      ...caCertificates, summary: 'Release a certificateHold (any other reason is final: 409 revocation.notOnHold)',
      params: SerialParams, response: { 204: Type.Null(), ...errors(400, 401, 403, 404, 409) },
    },
  }, async (request, reply) => {
    await registry.releaseHold(request.principal.tenant, request.params.id as CaCertificateId, request.params.serialNumber, auditContextOf(request));
    request.log.info({ caCertificateId: request.params.id, serialNumber: request.params.serialNumber }, 'certificate hold released');
    return reply.code(204).send(null);
  });

  // Issue 15 part 2: the CA's CRL.
  app.put('/caCertificates/:id/crl', {
    config: { scope: 'mcmqtt.admin' },
    bodyLimit: CRL_BODY_LIMIT_BYTES,
    schema: {
      ...caCertificates, summary: 'Import the CA\'s CRL (replaces the previous one; its entries are enforced live)',
      params: IdParams, body: ImportCrlBody,
      response: { 200: CrlResource, ...errors(400, 401, 403, 404, 409, 413, 415) },
    },
  }, async (request) => {
    const crl = await registry.importCrl({ tenant: request.principal.tenant, caCertificateId: request.params.id, crlPem: request.body.crl }, auditContextOf(request));
    request.log.info({ caCertificateId: request.params.id, crlNumber: crl.crlNumber, entries: crl.entryCount }, 'CRL imported');
    return toCrlResource(crl);
  });

  app.get('/caCertificates/:id/crl', {
    config: { scope: 'mcmqtt.read' },
    schema: { ...caCertificates, summary: 'The CA\'s imported CRL', params: IdParams, response: { 200: CrlResource, ...errors(401, 403, 404) } },
  }, async (request) => toCrlResource(await registry.findCrl(request.principal.tenant, request.params.id)));
};
