import type { FastifyPluginAsync } from 'fastify';
import { errorBody, ErrorBody } from '../error-body.ts';

export interface BrokerCaRoutesOptions {
  /** The generated broker root CA; undefined when the operator brings the TLS certificate. */
  readonly rootCaPem: string | undefined;
  /** With the operator's certificate: its issuer (one line), so the 404 says which CA agents need. */
  readonly issuer?: string | undefined;
}

export const BROKER_CA_PATH = '/broker-ca.pem';
const PEM_CONTENT_TYPE = 'application/x-pem-file';

// GET /broker-ca.pem: the root agents must trust to verify the broker's TLS certificate. Public
// on purpose, like any CA certificate; mounted at the server root, outside the MindConnect API.
export const brokerCaRoutes: FastifyPluginAsync<BrokerCaRoutesOptions> = async (app, { rootCaPem, issuer }) => {
  app.get(BROKER_CA_PATH, {
    config: { public: true },
    schema: {
      hide: false,
      tags: ['broker'],
      summary: 'Download the broker root CA certificate',
      description: 'The CA that issued the MQTT broker\'s TLS server certificate, as PEM; agents put it in their trust store '
        + '(e.g. mosquitto_pub --cafile). No token needed. 404 `brokerCa.notGenerated` when the broker uses the operator\'s own certificate '
        + '(TRUSTGATE_TLS_CERT_FILE): there is no generated root then, and agents trust the CA that issued that certificate (the message names it).',
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
      return reply.code(404).send(errorBody('brokerCa.notGenerated', request.id,
        `This broker uses the operator's own TLS certificate (TRUSTGATE_TLS_CERT_FILE)${issuer ? `, issued by "${issuer}"` : ''}, so it has no generated broker root CA. `
        + 'Agents trust the root CA of that certificate\'s chain: get it from whoever issued the certificate (your PKI or the operator), not from trustgate.'));
    }
    return reply
      .header('content-type', PEM_CONTENT_TYPE)
      .header('content-disposition', 'attachment; filename="trustgate-broker-ca.pem"')
      // It changes only when an operator replaces the root; a client should still revalidate.
      .header('cache-control', 'no-cache')
      .send(rootCaPem);
  });
};
