import type { Aedes, Client } from 'aedes';
import type { Logger } from 'pino';
import type { Socket } from 'node:net';
import { agentContext, type Registry } from '../registry/index.ts';
import { DomainError, isDomainError, type TenantId } from '../shared/index.ts';
import type { BrokerPrincipal } from './broker-principal.ts';
import { stampPublisher } from './message-publisher.ts';
import type { SessionRegistry } from './session-registry.ts';
import { BROKER_PUBLISHER_CLIENT_ID } from './topic-rules.ts';

// Renewal over MQTT (SPEC "Renewal over MQTT", README "Certificate renewal over MQTT"): an agent publishes
// {"id", "csr"} to tc/<tenant>/<clientId>/o/cert_v1/csr and gets {"id", "certificate", "chain",
// "notAfter"} or {"id", "error": {"code", "message"}} on tc/<tenant>/<clientId>/i/cert_v1/cert.
//
// The node that receives the PUBLISH handles it (the use case decides across nodes through the
// database). The request is consumed here: after `authorizePublish` accepted it (the topic rules:
// an agent reaches only its own o/ topic, 128 KiB at most), it is never forwarded, retained,
// queued or sent to other nodes — no subscriber (a tenant application on tc/<tenant>/#) sees a
// renewal request. The answer enters like any message, through `broker.publish`, stamped with a
// publisher the topic rules allow on the agent's i/ topic, so every delivery wall applies to it.

const REQUEST_TOPIC = /^tc\/[^/]+\/[^/]+\/o\/cert_v1\/csr$/;
// Every PUBLISH passes here: one endsWith, and the regex only for a topic with the request's last levels.
export const isRenewalRequestTopic = (topic: unknown): boolean => typeof topic === 'string' && topic.endsWith('/o/cert_v1/csr') && REQUEST_TOPIC.test(topic);
export const renewalRequestTopic = (tenant: string, clientId: string): string => `tc/${tenant}/${clientId}/o/cert_v1/csr`;
export const renewalReplyTopic = (tenant: string, clientId: string): string => `tc/${tenant}/${clientId}/i/cert_v1/cert`;

const MAX_REQUEST_ID_LENGTH = 256;

type AgentPrincipal = Extract<BrokerPrincipal, { kind: 'agent' }>;
type Publish = (packet: { readonly topic: string }, client?: Client | null | ((error?: Error) => void), done?: (error?: Error) => void) => void;

export interface CertificateRenewalDependencies {
  readonly registry: Pick<Registry, 'renewAgentCertificate'>;
  readonly sessions: SessionRegistry;
  readonly logger: Logger;
}

const invalidRequest = (why: string): DomainError => new DomainError('renewal.requestInvalid',
  `The renewal request ${why}. Publish {"id": "<request id>", "csr": "<PEM>"} (UTF-8 JSON) to tc/<tenant>/<clientId>/o/cert_v1/csr.`);

/** The request's id as soon as it is known (an error answer carries it), then its CSR. */
const readRequest = (payload: unknown, onId: (id: string) => void): string => {
  let request: unknown;
  try {
    request = JSON.parse(Buffer.isBuffer(payload) ? payload.toString('utf8') : String(payload));
  } catch {
    throw invalidRequest('is not JSON');
  }
  if (typeof request !== 'object' || request === null || Array.isArray(request)) throw invalidRequest('is not a JSON object');
  const { id, csr } = request as Record<string, unknown>;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_REQUEST_ID_LENGTH) throw invalidRequest(`has no "id" (a string of 1-${MAX_REQUEST_ID_LENGTH} characters)`);
  onId(id);
  if (typeof csr !== 'string') throw invalidRequest('has no "csr" (a PEM string)');
  return csr;
};

// The broker's answers: published as from a tenant application, which the rules allow on any of
// the tenant's i/ topics.
const brokerPublisher = (tenant: TenantId): BrokerPrincipal => ({ kind: 'application', tenant, clientId: BROKER_PUBLISHER_CLIENT_ID, mayPublish: true });

/** Installs the handler on a broker created by `Aedes.createBroker`, outside the message walls. */
export const installCertificateRenewal = (broker: Aedes, { registry, sessions, logger }: CertificateRenewalDependencies): void => {
  // One request of an agent at a time on this node: a burst sent before the first answer costs
  // one CSR check and signature at most, not one each (the hourly limit is the store's).
  const inFlight = new Set<string>();
  const publish = (broker.publish as Publish).bind(broker);

  const reply = (principal: AgentPrincipal, body: Record<string, unknown>): void => {
    const packet = {
      cmd: 'publish' as const, topic: renewalReplyTopic(principal.tenant, principal.clientId), payload: Buffer.from(JSON.stringify(body)),
      qos: 1 as const, retain: false, dup: false,
    };
    stampPublisher(packet, brokerPublisher(principal.tenant));
    publish(packet, null, (error?: Error) => {
      if (error) logger.warn({ err: error.message, clientId: principal.clientId }, 'could not publish a certificate renewal answer');
    });
  };

  const handle = async (principal: AgentPrincipal, payload: unknown, sourceAddress: string | undefined): Promise<void> => {
    let id: string | null = null;
    const key = `${principal.tenant}/${principal.clientId}`;
    let isHolding = false;
    try {
      const csrPem = readRequest(payload, (requestId) => { id = requestId; });
      if (inFlight.has(key)) throw new DomainError('renewal.inProgress', 'A renewal request of this agent is being handled already: wait for its answer on i/cert_v1/cert.');
      inFlight.add(key);
      isHolding = true;
      const renewed = await registry.renewAgentCertificate({
        tenant: principal.tenant,
        subject: { kind: 'session', clientId: principal.clientId, caCertificateId: principal.caCertificateId, serialNumber: principal.certificateSerialNumber },
        csrPem,
      }, agentContext(principal.clientId, sourceAddress));
      const { certificate } = renewed;
      logger.info({ clientId: principal.clientId, tenant: principal.tenant, agentCertificateId: certificate.id, serialNumber: certificate.serialNumber, notAfter: certificate.notAfter.toISOString() },
        'agent certificate renewed over MQTT');
      reply(principal, { id, certificate: certificate.certificatePem, chain: renewed.caCertificatePem, notAfter: certificate.notAfter.toISOString(), agentCertificateId: certificate.id });
    } catch (error) {
      const domainError = isDomainError(error) ? error : undefined;
      const retryAt = (domainError?.details as { retryAt?: unknown } | undefined)?.retryAt;
      if (domainError) logger.info({ clientId: principal.clientId, tenant: principal.tenant, reason: domainError.code }, 'agent certificate renewal refused');
      else logger.error({ err: error, clientId: principal.clientId, tenant: principal.tenant }, 'agent certificate renewal failed');
      reply(principal, {
        id,
        error: domainError
          ? { code: domainError.code, message: domainError.message, ...(typeof retryAt === 'string' ? { retryAt } : {}) }
          : { code: 'internal', message: 'The renewal failed unexpectedly; details are in the server log. Retry later.' },
      });
    } finally {
      if (isHolding) inFlight.delete(key);
    }
  };

  (broker as unknown as { publish: Publish }).publish = (packet, client, done) => {
    const callback = typeof client === 'function' ? client : done;
    const sender = typeof client === 'function' ? null : client ?? null;
    if (!isRenewalRequestTopic(packet.topic)) return publish(packet, sender, callback);
    // Consumed: acknowledged (QoS 1's PUBACK is already written) and handled apart.
    callback?.();
    const principal = sender && !sender.closed ? sessions.principalOf(sender) : undefined;
    if (principal?.kind !== 'agent' || packet.topic !== renewalRequestTopic(principal.tenant, principal.clientId)) {
      // A will, or a message of a node that stopped: no live agent to answer.
      logger.debug({ topic: packet.topic.slice(0, 256) }, 'dropped a certificate renewal request without a live agent session');
      return;
    }
    handle(principal, (packet as { payload?: unknown }).payload, (sender?.conn as Partial<Socket> | undefined)?.remoteAddress)
      .catch((error: unknown) => logger.error({ err: error, clientId: principal.clientId }, 'certificate renewal handler failed'));
  };
};
