import { isIP } from 'node:net';

// Where agents reach the broker, asked of the server (GET /broker.json) for the mosquitto_pub line
// `agent issue` prints: the broker's port is whatever TRUSTGATE_MQTT_PORT says there, not 8883.
// Best effort: `agent issue` works without a server, so no answer leaves placeholders.

export interface BrokerAddress {
  /** A name in the broker's TLS certificate (mosquitto checks it): the --url's host if it is one. */
  readonly host: string | undefined;
  readonly port: number;
  /** False with the operator's own certificate: trustgate broker-ca has nothing to give. */
  readonly hasGeneratedRootCa: boolean;
}

const LOOKUP_TIMEOUT_MS = 3000;
const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9.:-]{0,252}[A-Za-z0-9])?$/;

const normalize = (host: string): string => {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return isIP(bare) === 6 ? new URL(`http://[${bare}]`).hostname.slice(1, -1) : bare.toLowerCase();
};

/** The broker's host and port, or undefined if the server does not answer in time (or is too old to know). */
export const findBrokerAddress = async (baseUrl: string): Promise<BrokerAddress | undefined> => {
  let body: unknown;
  try {
    const response = await fetch(`${baseUrl}/broker.json`, { signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS) });
    if (!response.ok) return undefined;
    body = await response.json();
  } catch {
    return undefined;
  }
  const { port, hostnames, rootCaPath } = (body ?? {}) as { port?: unknown; hostnames?: unknown; rootCaPath?: unknown };
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  // Printed into a line people paste into a shell: a DNS name or an IP address, nothing else.
  const names = Array.isArray(hostnames) ? hostnames.filter((name): name is string => typeof name === 'string' && HOST_NAME.test(name)) : [];
  const urlHost = normalize(new URL(baseUrl).hostname);
  const host = names.find((name) => normalize(name) === urlHost) ?? names[0];
  return { host, port, hasGeneratedRootCa: typeof rootCaPath === 'string' };
};
