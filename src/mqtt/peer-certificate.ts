import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Client } from 'aedes';

// The client certificate of a connection, read from the TLS session once: OpenSSL parses it into
// a new X509Certificate on every call (about as much CPU as the admission's own checks), and both
// the connect limits (its fingerprint) and the admission need it.
//
// Only while the CONNECT is answered: the accepted log line takes it (`takePeerCertificate`) and
// then it is gone. Kept for the whole session, each idle agent held its X509Certificate with what
// the admission read from it (the DER copy, the public KeyObject, dates, names): ~2.5 KiB of V8
// heap per agent (heap snapshots, decision 0012). The TLS session keeps OpenSSL's own copy anyway.
const cache = new WeakMap<Client, X509Certificate | null>();

export const peerCertificateOf = (client: Client): X509Certificate | undefined => {
  let certificate = cache.get(client);
  if (certificate === undefined) {
    certificate = (client.conn as Partial<TLSSocket>).getPeerX509Certificate?.() ?? null;
    cache.set(client, certificate);
  }
  return certificate ?? undefined;
};

/** The certificate, for the last time: the next `peerCertificateOf` reads it from the TLS session again. */
export const takePeerCertificate = (client: Client): X509Certificate | undefined => {
  const certificate = peerCertificateOf(client);
  cache.delete(client);
  return certificate;
};
