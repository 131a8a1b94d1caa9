// MQTT 3.1.1 packets written by hand, for tests that send what no client library will (a QoS 2
// PUBLISH, an empty client id with clean session 0, a malformed CONNECT) [MQTT-2.2.3, 1.5.3].

/** The remaining-length field: 7 bits a byte, low first, the high bit saying "more follows". */
export const remainingLength = (length: number): Buffer => {
  const bytes: number[] = [];
  do {
    let byte = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) byte |= 0x80;
    bytes.push(byte);
  } while (length > 0);
  return Buffer.from(bytes);
};

/** A length-prefixed string or binary field. */
export const mqttField = (value: string | Buffer): Buffer => {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes]);
};

/** A whole packet: fixed header byte, remaining length, body. */
export const mqttPacket = (firstByte: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);
