import type { FastifyPluginAsync } from 'fastify';
import { BROKER_CA_PATH } from '../broker-ca/broker-ca-routes.ts';

export interface BrokerInfo {
  /** The port this node's MQTT broker listens on (the actual one when TRUSTGATE_MQTT_PORT is 0). */
  readonly port: number;
  /** The DNS names and IP addresses in the broker's TLS server certificate, the configured first. */
  readonly hostnames: readonly string[];
  /** Whether the broker's certificate comes from the generated root CA served at /broker-ca.pem. */
  readonly hasGeneratedRootCa: boolean;
}

export const BROKER_INFO_PATH = '/broker.json';

// GET /broker.json: where agents connect, so the CLI can print a mosquitto_pub line that works on
// any port (`trustgate agent issue`). Public like /broker-ca.pem: a client connecting to the
// broker learns the same from its TLS certificate; nothing here is a tenant's.
export const brokerInfoRoutes: FastifyPluginAsync<{ broker: BrokerInfo }> = async (app, { broker }) => {
  const body = { port: broker.port, hostnames: [...broker.hostnames], rootCaPath: broker.hasGeneratedRootCa ? BROKER_CA_PATH : null };
  app.get(BROKER_INFO_PATH, {
    config: { public: true },
    schema: {
      tags: ['broker'],
      summary: 'Where agents connect to the MQTT broker',
      description: 'The MQTT broker\'s port (MQTT over TLS with client certificates) and the host names its TLS server certificate holds '
        + '(an agent must connect with one of them for the certificate check to pass), and where to download the root CA that issued it '
        + '(null with the operator\'s own certificate, TRUSTGATE_TLS_CERT_FILE). No token needed.',
      response: {
        200: {
          type: 'object',
          required: ['port', 'hostnames', 'rootCaPath'],
          additionalProperties: false,
          properties: {
            port: { type: 'integer', minimum: 1, maximum: 65535, example: 8883 },
            hostnames: { type: 'array', items: { type: 'string' }, example: ['localhost'] },
            rootCaPath: { type: ['string', 'null'], example: BROKER_CA_PATH },
          },
        },
      },
    },
  }, async (_request, reply) => reply.header('cache-control', 'no-cache').send(body));
};
