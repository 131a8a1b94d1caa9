import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { brokerRootCaProfile, issueCertificate } from '../../pki/index.ts';
import { brokerCaRoutes } from './broker-ca-routes.ts';

const build = async (rootCaPem: string | undefined, issuer?: string): Promise<FastifyInstance> => {
  const app = Fastify();
  await app.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 't', version: '1' } } });
  await app.register(brokerCaRoutes, { rootCaPem, issuer });
  await app.ready();
  return app;
};

describe('GET /broker-ca.pem', () => {
  let rootCaPem: string;
  before(async () => {
    ({ certificatePem: rootCaPem } = await issueCertificate(brokerRootCaProfile, { subject: { CN: 'trustgate broker root CA test' }, key: 'p256', validityDays: 10, now: new Date() }));
  });

  test('answers the generated root as a PEM download, without a token', async () => {
    const app = await build(rootCaPem);
    const answer = await app.inject({ method: 'GET', url: '/broker-ca.pem' });
    assert.equal(answer.statusCode, 200);
    assert.equal(answer.headers['content-type'], 'application/x-pem-file');
    assert.equal(answer.headers['content-disposition'], 'attachment; filename="trustgate-broker-ca.pem"');
    assert.equal(answer.body, rootCaPem);
    assert.ok(new X509Certificate(answer.body).ca);
    await app.close();
  });

  test('HEAD works too (curl -I)', async () => {
    const app = await build(rootCaPem);
    const answer = await app.inject({ method: 'HEAD', url: '/broker-ca.pem' });
    assert.equal(answer.statusCode, 200);
    assert.equal(answer.headers['content-type'], 'application/x-pem-file');
    await app.close();
  });

  test('with the operator\'s own certificate: 404 brokerCa.notGenerated with the MindConnect error body naming the CA agents trust instead', async () => {
    const app = await build(undefined, 'CN=Plant Issuing CA, O=Plant');
    const answer = await app.inject({ method: 'GET', url: '/broker-ca.pem' });
    assert.equal(answer.statusCode, 404);
    assert.match(answer.headers['content-type'] as string, /^application\/json/);
    const body = answer.json();
    assert.deepEqual(Object.keys(body), ['errors']);
    assert.equal(body.errors.length, 1);
    assert.equal(body.errors[0].code, 'brokerCa.notGenerated', 'a code the CLI recognises (trustgate broker-ca exits 67, not 69)');
    assert.ok(typeof body.errors[0].logref === 'string' && body.errors[0].logref.length > 0, 'logref = the request id');
    assert.equal(body.errors[0].message,
      'This broker uses the operator\'s own TLS certificate (TRUSTGATE_TLS_CERT_FILE), issued by "CN=Plant Issuing CA, O=Plant", so it has no generated broker root CA. '
      + 'Agents trust the root CA of that certificate\'s chain: get it from whoever issued the certificate (your PKI or the operator), not from trustgate.');
    await app.close();
  });

  test('is listed in the OpenAPI document with a summary and its PEM response', async () => {
    const app = await build(rootCaPem);
    const operation = (app.swagger() as any).paths['/broker-ca.pem']?.get;
    assert.ok(operation, 'GET /broker-ca.pem is documented');
    assert.equal(operation.summary, 'Download the broker root CA certificate');
    assert.equal(operation.security, undefined, 'no token needed');
    assert.deepEqual(operation.responses['200'].content['application/x-pem-file'].schema, { type: 'string' });
    assert.deepEqual(operation.responses['404'].content['application/json'].schema.required, ['errors']);
    await app.close();
  });
});
