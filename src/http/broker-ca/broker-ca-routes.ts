import type { FastifyPluginAsync } from 'fastify';
import { errorBody, ErrorBody } from '../error-body.ts';

export interface BrokerCaRoutesOptions {
  /** The generated broker root CA; undefined when the operator brings the TLS certificate. */
  readonly rootCaPem: string | undefined;
}

export const BROKER_CA_PATH = '/broker-ca.pem';
const PEM_CONTENT_TYPE = 'application/x-pem-file';

// GET /broker-ca.pem: the root agents must trust to verify the broker's TLS certificate. Public
// on purpose, like any CA certificate; mounted at the server root, outside the MindConnect API.
export const brokerCaRoutes: FastifyPluginAsync<BrokerCaRoutesOptions> = async (app, { rootCaPem }) => {
  app.get(BROKER_CA_PATH, {
    config: { public: true },
    schema: {
      hide: false,
      tags: ['broker'],
      summary: 'Download the broker root CA certificate',
      description: 'The CA that issued the MQTT broker\'s TLS server certificate, as PEM; agents put it in their trust store '
        + '(e.g. mosquitto_pub --cafile). No token needed. 404 when the broker uses the operator\'s own certificate (TRUSTGATE_TLS_CERT_FILE).',
      response: {
        200: {
          description: 'The broker root CA certificate (PEM)',
          content: { [PEM_CONTENT_TYPE]: { schema: { type: 'string' } } },
        },
        404: ErrorBody,
      },
    },
  }, async (request, reply) => {
    if (rootCaPem === undefined) {
      return reply.code(404).send(errorBody('request.routeNotFound', request.id,
        'This server uses the operator\'s own TLS certificate (TRUSTGATE_TLS_CERT_FILE); get its CA from the operator.'));
    }
    return reply
      .header('content-type', PEM_CONTENT_TYPE)
      .header('content-disposition', 'attachment; filename="trustgate-broker-ca.pem"')
      // It changes only when an operator replaces the root; a client should still revalidate.
      .header('cache-control', 'no-cache')
      .send(rootCaPem);
  });
};
