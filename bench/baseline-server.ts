// A baseline broker for the benchmark (issue 18): what trustgate costs beyond what it is built on.
//   bare-tls    node:tls with trustgate's TLS settings, reads the peer certificate, answers CONNECT
//               with CONNACK 0 (and PINGREQ with PINGRESP); no MQTT beyond that, no trust checks.
//   bare-aedes  aedes (the version trustgate uses) over the same node:tls server, no hooks.
// Run with the package's Node 24 and bin/trustgate's MALLOC_MMAP_THRESHOLD_ (bench/lib/baseline-server.ts).
// Argv: <mode> <private key PEM file> <certificate PEM file>… (the chain, leaf first); env BENCH_TLS_GROUPS = ecdhCurve.
// Prints one JSON line {"port": N} once listening on 127.0.0.1; ends on SIGTERM.
import { readFileSync } from 'node:fs';
import { createServer, type TLSSocket } from 'node:tls';
import { Aedes } from 'aedes';

const [mode, keyFile, ...certFiles] = process.argv.slice(2);
if ((mode !== 'bare-tls' && mode !== 'bare-aedes') || !keyFile || certFiles.length === 0) {
  process.stderr.write('usage: baseline-server.ts bare-tls|bare-aedes <key.pem> <certificate.pem>...\n');
  process.exit(64);
}
const groups = process.env.BENCH_TLS_GROUPS || undefined;

const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const PINGRESP = Buffer.from([0xd0, 0x00]);

// The smallest MQTT a connect storm and idle agents need: packets are framed (fixed header,
// remaining length) so a CONNECT split over reads or a PINGREQ behind it is still answered.
const bareTls = (socket: TLSSocket): void => {
  // What trustgate's authentication reads first: the client's certificate (DER → X509Certificate).
  const certificate = socket.getPeerX509Certificate();
  if (certificate === undefined) {
    socket.destroy();
    return;
  }
  let pending: Buffer | undefined;
  socket.on('data', (chunk: Buffer) => {
    let buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    for (;;) {
      if (buffer.length < 2) break;
      let length = 0;
      let multiplier = 1;
      let offset = 1;
      for (;;) {
        if (offset >= buffer.length) {
          length = -1;
          break;
        }
        const byte = buffer[offset++]!;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) break;
      }
      if (length < 0 || buffer.length < offset + length) break;
      const type = buffer[0]! >> 4;
      if (type === 1) socket.write(CONNACK);
      else if (type === 12) socket.write(PINGRESP);
      else if (type === 14) socket.end();
      buffer = buffer.subarray(offset + length);
    }
    if (buffer.length > 0) pending = Buffer.from(buffer);
  });
};

const aedes = mode === 'bare-aedes' ? await Aedes.createBroker({ maxClientsIdLength: 256, connectTimeout: 10_000 }) : undefined;

// trustgate's TLS settings (src/mqtt/start-mqtt-broker.ts): its certificate chain and key, a client
// certificate asked for but not chain-checked, TLS 1.2 and up, Node's session ticket defaults.
const server = createServer({
  cert: certFiles.map((file) => readFileSync(file, 'utf8')).join(''),
  key: readFileSync(keyFile, 'utf8'),
  requestCert: true,
  rejectUnauthorized: false,
  minVersion: 'TLSv1.2',
  handshakeTimeout: 10_000,
  ...(groups === undefined ? {} : { ecdhCurve: groups }),
}, (socket) => {
  socket.setNoDelay(true);
  if (aedes) {
    aedes.handle(socket);
  } else {
    socket.on('error', () => socket.destroy());
    bareTls(socket);
  }
});
server.on('tlsClientError', (_error, socket) => socket.destroy());
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port, mode, groups: groups ?? null })}\n`);
});
process.once('SIGTERM', () => process.exit(0));
