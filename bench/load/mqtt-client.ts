import { connect as tlsConnect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import type { Endpoint, TlsInfo } from '../lib/jobs.ts';
import { PacketReader, PacketType } from '../lib/mqtt-wire.ts';
import { nowMs } from './control.ts';

/** Every connection with a CONNACK, until it closes: held agents, publishers, the application. */
export const openSockets = new Set<TLSSocket>();

export const KEEPALIVE_SECONDS = 600;

export interface Connected {
  readonly socket: TLSSocket;
  readonly reader: PacketReader;
  readonly latencyMs: number;
}

/** TCP + TLS handshake + CONNECT/CONNACK; rejects on a refusal, an error or after `timeoutMs`. */
export const connectClient = (endpoint: Endpoint, context: SecureContext, connectPacket: Buffer, timeoutMs: number): Promise<Connected> =>
  new Promise((resolve, reject) => {
    const started = nowMs();
    const socket = tlsConnect({ host: endpoint.host, port: endpoint.port, servername: endpoint.servername, secureContext: context, rejectUnauthorized: true });
    const reader = new PacketReader();
    let settled = false;
    const fail = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(reason));
    };
    const timer = setTimeout(() => fail(`no CONNACK within ${timeoutMs} ms`), timeoutMs);
    socket.setNoDelay(true);
    socket.once('secureConnect', () => socket.write(connectPacket));
    socket.on('error', (error) => fail(error.message));
    socket.once('close', () => fail('closed before CONNACK'));
    const onData = (chunk: Buffer) => {
      reader.push(chunk);
      const packet = reader.next();
      if (!packet || settled) return;
      if (packet.type !== PacketType.Connack) return fail(`expected CONNACK, got packet type ${packet.type}`);
      const code = packet.body[1];
      if (code !== 0) return fail(`CONNACK ${code}`);
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      openSockets.add(socket);
      socket.once('close', () => openSockets.delete(socket));
      resolve({ socket, reader, latencyMs: nowMs() - started });
    };
    socket.on('data', onData);
  });

export const tlsInfoOf = (socket: TLSSocket): TlsInfo => {
  const key = socket.getEphemeralKeyInfo() as { name?: string; type?: string } | null;
  return { protocol: socket.getProtocol(), cipher: socket.getCipher().name, group: key && 'name' in key ? key.name : undefined };
};

export const contextFor = (endpoint: Endpoint, certificatePem?: string, keyPem?: string): SecureContext =>
  createSecureContext({
    ca: [...endpoint.caPem],
    ...(certificatePem ? { cert: certificatePem, key: keyPem } : {}),
    ...(endpoint.ecdhCurve ? { ecdhCurve: endpoint.ecdhCurve } : {}),
  });

