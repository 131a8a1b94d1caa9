import type { BaselineServer } from './baseline-server.ts';
import type { BenchPki } from './bench-pki.ts';
import type { ApplicationIdentity, Endpoint } from './jobs.ts';
import type { MosquittoServer } from './mosquitto-server.ts';
import type { TrustgateServer } from './trustgate-server.ts';

/** A running broker as the scenarios drive it: where to connect, whose CPU and RSS to read. */
export interface BrokerTarget {
  readonly label: 'trustgate' | 'Mosquitto' | 'bare node:tls' | 'bare aedes';
  readonly pid: number;
  readonly endpoint: Endpoint;
  /** The tenant application that receives every agent's messages. */
  readonly application: ApplicationIdentity;
  /** Its subscription: tc/<tenant>/# */
  readonly filter: string;
}

export interface Targets {
  readonly trustgate: BrokerTarget;
  readonly mosquitto: BrokerTarget;
  /** The baselines (issue 18): what trustgate is built on, without trustgate. */
  readonly bareTls?: BrokerTarget | undefined;
  readonly bareAedes?: BrokerTarget | undefined;
}

/** Every broker a scenario may drive, in the order each pass takes them (interleaved A/B). */
export const BROKERS = ['bareTls', 'bareAedes', 'trustgate', 'mosquitto'] as const;
export type BrokerKey = typeof BROKERS[number];
/** The brokers of `targets` that are there, in BROKERS order. */
export const brokersOf = (targets: Partial<Record<BrokerKey, BrokerTarget | undefined>>): BrokerKey[] => BROKERS.filter((key) => targets[key] !== undefined);

// Clients of either broker trust the same two roots: trustgate's generated broker root and the
// bench root that issued Mosquitto's server certificate.

/** trustgate: the tenant application authenticates with a Bearer token as its password. */
export const trustgateTarget = (pki: BenchPki, server: TrustgateServer, applicationToken = ''): BrokerTarget => ({
  label: 'trustgate', pid: server.pid,
  endpoint: { host: '127.0.0.1', port: server.mqttPort, servername: 'localhost', caPem: [server.brokerRootCaPem, pki.benchRoot.certificatePem] },
  application: { clientId: `${pki.tenant}_app`, username: pki.tenant, password: applicationToken },
  filter: `tc/${pki.tenant}/#`,
});

/** Mosquitto: the tenant application has a client certificate of its own (its ACL user). */
export const mosquittoTarget = (pki: BenchPki, server: MosquittoServer, trustgateRootPem: string): BrokerTarget => ({
  label: 'Mosquitto', pid: server.pid,
  endpoint: { host: '127.0.0.1', port: server.port, servername: 'localhost', caPem: [trustgateRootPem, pki.benchRoot.certificatePem] },
  application: { clientId: `${pki.tenant}_app`, certificatePem: pki.mosquittoApplication.certificatePem, keyPem: pki.mosquittoApplication.keyPem },
  filter: `tc/${pki.tenant}/#`,
});

/** A baseline (bare node:tls, bare aedes): trustgate's certificate chain, so clients trust it as trustgate; anyone may connect. */
export const baselineTarget = (pki: BenchPki, server: BaselineServer, trustgateRootPem: string): BrokerTarget => ({
  label: server.mode === 'bare-tls' ? 'bare node:tls' : 'bare aedes', pid: server.pid,
  endpoint: { host: '127.0.0.1', port: server.port, servername: 'localhost', caPem: [trustgateRootPem, pki.benchRoot.certificatePem] },
  application: { clientId: `${pki.tenant}_app`, username: pki.tenant, password: '' },
  filter: `tc/${pki.tenant}/#`,
});
