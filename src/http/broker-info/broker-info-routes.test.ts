import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import swagger from '@fastify/swagger';
import { brokerInfoRoutes, type BrokerInfo } from './broker-info-routes.ts';

const build = async (broker: BrokerInfo) => {
  const app = Fastify();
  await app.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 't', version: '1' } } });
  await app.register(brokerInfoRoutes, { broker });
  await app.ready();
  return app;
};

describe('GET /broker.json', () => {
  test('answers the broker\'s port, its certificate\'s host names and where its root CA is, without a token', async () => {
    const app = await build({ port: 18883, hostnames: ['broker.example.com', '10.0.0.7'], hasGeneratedRootCa: true });
    const answer = await app.inject({ method: 'GET', url: '/broker.json' });
    assert.equal(answer.statusCode, 200);
    assert.match(answer.headers['content-type'] as string, /^application\/json/);
    assert.deepEqual(answer.json(), { port: 18883, hostnames: ['broker.example.com', '10.0.0.7'], rootCaPath: '/broker-ca.pem' });
    const operation = (app.swagger() as any).paths['/broker.json']?.get;
    assert.ok(operation, 'documented');
    assert.deepEqual(operation.responses['200'].content['application/json'].schema.required, ['port', 'hostnames', 'rootCaPath']);
  });

  test('with the operator\'s own certificate there is no root CA to download: rootCaPath null', async () => {
    const app = await build({ port: 8883, hostnames: ['mqtt.example.org'], hasGeneratedRootCa: false });
    assert.deepEqual((await app.inject({ method: 'GET', url: '/broker.json' })).json(), { port: 8883, hostnames: ['mqtt.example.org'], rootCaPath: null });
  });
});
