import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Client } from 'aedes';

// The client certificate of a connection, read from the TLS session once: OpenSSL parses it into
// a new X509Certificate on every call (about as much CPU as the admission's own checks), and both
// the connect limits (its fingerprint) and the admission need it.
const cache = new WeakMap<Client, X509Certificate | null>();

export const peerCertificateOf = (client: Client): X509Certificate | undefined => {
  let certificate = cache.get(client);
  if (certificate === undefined) {
    certificate = (client.conn as Partial<TLSSocket>).getPeerX509Certificate?.() ?? null;
    cache.set(client, certificate);
  }
  return certificate ?? undefined;
};
