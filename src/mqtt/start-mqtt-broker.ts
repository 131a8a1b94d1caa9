import { createServer } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { Aedes, type Client, type ConnectPacket } from 'aedes';
import type { Logger } from 'pino';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { TokenVerifier } from '../auth/index.ts';
import type { Registry, RegistryEvent } from '../registry/index.ts';
import { createAuthenticate } from './authenticate-client.ts';
import { createAuthorizeForward, createAuthorizePublish, createAuthorizeSubscribe } from './authorize-packets.ts';
import { createBrokerMetrics } from './broker-metrics.ts';
import { guardPackets } from './guard-packets.ts';
import { SessionRegistry } from './session-registry.ts';

export interface MqttBrokerOptions {
  readonly registry: Registry;
  readonly tokens: TokenVerifier;
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly certificateChainPem: string; readonly privateKeyPem: string };
}

export interface RunningMqttBroker {
  readonly port: number;
  /** Withdrawn trust closes the affected sessions at once. */
  onRegistryEvent(event: RegistryEvent): void;
  close(): Promise<void>;
}

const HANDSHAKE_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;

// aedes over node:tls with mutual TLS. The TLS layer asks for a client certificate but neither
// requires nor chain-checks it (no `ca` list: the CertificateRequest names no tenant's CA, and
// trust changes need no context rebuild); the registry decides in `authenticate`. The TLS
// handshake still proves the client holds the certificate's private key (CertificateVerify).
export const startMqttBroker = async (options: MqttBrokerOptions): Promise<RunningMqttBroker> => {
  const { registry, logger } = options;
  const sessions = new SessionRegistry();
  const metrics = createBrokerMetrics(options.metrics);
  const log = logger.child({ component: 'mqtt' });

  // Clients that sent an empty client id: only the broker-generated `aedes_<uuid>` ids they got
  // are exempt from the `<tenant>_` namespace; an id a client chose never is.
  const generatedClientIds = new WeakSet<Client>();
  const broker = await Aedes.createBroker({
    preConnect: (client: Client, packet: ConnectPacket, callback: (error: Error | null, success: boolean) => void) => {
      if (packet.clientId === '') generatedClientIds.add(client);
      callback(null, true);
    },
    authenticate: createAuthenticate({ registry, tokens: options.tokens, logger: log, metrics, hasGeneratedClientId: (client) => generatedClientIds.has(client) }, sessions),
    authorizeForward: createAuthorizeForward({ sessions }),
    authorizePublish: createAuthorizePublish({ sessions, logger: log, metrics }),
    authorizeSubscribe: createAuthorizeSubscribe({ sessions, logger: log, metrics }),
    connectTimeout: CONNECT_TIMEOUT_MS,
    // Agent client ids are `<tenant>_<CN>`: longer than MQTT 3.1's 23 characters.
    maxClientsIdLength: 256,
  });
  broker.on('client', () => metrics.connected.inc());
  broker.on('clientDisconnect', (client: Client) => {
    metrics.connected.dec();
    const principal = sessions.detach(client);
    if (principal?.kind !== 'agent') return;
    registry.recordAgentDisconnection(principal.tenant, principal.agentId, principal.sessionId)
      .catch((error: unknown) => log.error({ err: error, clientId: client.id }, 'could not record the agent as offline'));
  });
  broker.on('clientError', (client: Client, error: Error) => log.debug({ clientId: client.id, err: error.message }, 'mqtt client error'));
  broker.on('connectionError', (client: Client, error: Error) => log.debug({ err: error.message }, 'mqtt connection error before CONNECT'));

  // Every TCP connection, from accept on: a handshake must finish within HANDSHAKE_TIMEOUT_MS
  // (Node's handshakeTimeout is an idle timer that a byte every few seconds keeps alive, and it
  // only reports), and close() must also end connections still in their handshake. An idle agent
  // keeps only its set entry here: the deadline goes at the end of the handshake, and the close
  // listener is one shared function.
  const sockets = new Set<Socket>();
  const handshakes = new Map<string, { readonly socket: Socket; readonly deadline: NodeJS.Timeout }>();
  const keyOf = (socket: Socket) => `${socket.remoteAddress}|${socket.remotePort}`;
  const endHandshake = (key: string, socket?: Socket) => {
    const handshake = handshakes.get(key);
    if (!handshake || (socket && handshake.socket !== socket)) return;
    clearTimeout(handshake.deadline);
    handshakes.delete(key);
  };
  function forgetSocket(this: Socket) {
    sockets.delete(this);
    endHandshake(keyOf(this), this);
  }
  const server = createServer({
    cert: options.tls.certificateChainPem,
    key: options.tls.privateKeyPem,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  }, (socket) => {
    endHandshake(keyOf(socket));
    // Without no-delay, Nagle + delayed ACKs hold each CONNACK ~40 ms (shared/STACK.md).
    socket.setNoDelay(true);
    guardPackets(broker.handle(socket));
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    handshakes.set(keyOf(socket), { socket, deadline: setTimeout(() => socket.destroy(), HANDSHAKE_TIMEOUT_MS) });
    socket.on('close', forgetSocket);
  });
  server.on('tlsClientError', (error, socket) => {
    log.debug({ err: error.message }, 'tls handshake failed');
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    onRegistryEvent(event) {
      let closed = 0;
      switch (event.type) {
        case 'caCertificateDeleted':
          closed = sessions.closeWhere((p) => p.kind === 'agent' && p.tenant === event.tenant && p.caCertificateId === event.caCertificateId);
          break;
        case 'agentDisabled':
        case 'agentDeleted':
          closed = sessions.closeWhere((p) => p.kind === 'agent' && p.tenant === event.tenant && p.agentId === event.agentId);
          break;
        case 'agentCertificateRevoked':
          // By fingerprint: the same agent connected with another (e.g. reissued) certificate stays.
          closed = sessions.closeWhere((p) => p.kind === 'agent' && p.tenant === event.tenant && p.certificateFingerprintSha256 === event.fingerprintSha256);
          break;
        default:
          return;
      }
      if (closed > 0) {
        metrics.sessionsClosedByTrustChange.inc(closed);
        log.info({ event: event.type, tenant: event.tenant, closed }, 'closed sessions after a trust change');
      }
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const { deadline } of handshakes.values()) clearTimeout(deadline);
        for (const socket of sockets) socket.destroy();
      });
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
};
