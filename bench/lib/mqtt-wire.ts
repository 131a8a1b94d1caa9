// The few MQTT 3.1.1 packets the load generator needs, encoded and parsed by hand (OASIS MQTT
// 3.1.1 §2-3). A general client library spends more CPU per message than a broker does; these
// few lines keep the load generator from being the bottleneck we measure.

export const PacketType = { Connack: 2, Publish: 3, Puback: 4, Suback: 9 } as const;

const remainingLength = (n: number): number[] => {
  const bytes: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return bytes;
};

const utf8Field = (text: string | Buffer): Buffer => {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const field = Buffer.allocUnsafe(2 + bytes.length);
  field.writeUInt16BE(bytes.length, 0);
  bytes.copy(field, 2);
  return field;
};

const packet = (firstByte: number, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from([firstByte, ...remainingLength(body.length)]), body]);

export interface ConnectOptions {
  readonly clientId: string;
  readonly username?: string;
  readonly password?: string;
  readonly keepaliveSeconds: number;
}

/** CONNECT, protocol level 4 (3.1.1), clean session. */
export const encodeConnect = ({ clientId, username, password, keepaliveSeconds }: ConnectOptions): Buffer => {
  const flags = 0x02 | (username !== undefined ? 0x80 : 0) | (password !== undefined ? 0x40 : 0);
  const header = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, flags, keepaliveSeconds >> 8, keepaliveSeconds & 0xff]);
  return packet(0x10, Buffer.concat([
    header, utf8Field(clientId),
    ...(username !== undefined ? [utf8Field(username)] : []),
    ...(password !== undefined ? [utf8Field(password)] : []),
  ]));
};

export const encodeSubscribe = (packetId: number, filter: string, qos: 0 | 1): Buffer =>
  packet(0x82, Buffer.concat([Buffer.from([packetId >> 8, packetId & 0xff]), utf8Field(filter), Buffer.from([qos])]));

export const encodePuback = (packetId: number): Buffer => Buffer.from([0x40, 0x02, packetId >> 8, packetId & 0xff]);

export const DISCONNECT = Buffer.from([0xe0, 0x00]);

/** A PUBLISH template for one topic, QoS and payload size: copy it, then patch the packet id and payload. */
export interface PublishTemplate {
  readonly bytes: Buffer;
  /** Offset of the packet id (QoS 1), or -1. */
  readonly packetIdOffset: number;
  readonly payloadOffset: number;
}

export const publishTemplate = (topic: string, qos: 0 | 1, payloadBytes: number): PublishTemplate => {
  const topicField = utf8Field(topic);
  const variable = qos > 0 ? 2 : 0;
  const length = topicField.length + variable + payloadBytes;
  const fixed = Buffer.from([0x30 | (qos << 1), ...remainingLength(length)]);
  const bytes = Buffer.alloc(fixed.length + length);
  fixed.copy(bytes, 0);
  topicField.copy(bytes, fixed.length);
  return { bytes, packetIdOffset: qos > 0 ? fixed.length + topicField.length : -1, payloadOffset: fixed.length + topicField.length + variable };
};

export interface Packet {
  readonly type: number;
  readonly flags: number;
  /** The packet's bytes after the fixed header; a view into the reader's buffer, valid until the next push. */
  readonly body: Buffer;
}

/** Splits a byte stream into packets. */
export class PacketReader {
  #buffer: Buffer = Buffer.alloc(0);
  #offset = 0;

  push(chunk: Buffer): void {
    this.#buffer = this.#offset < this.#buffer.length ? Buffer.concat([this.#buffer.subarray(this.#offset), chunk]) : chunk;
    this.#offset = 0;
  }

  next(): Packet | undefined {
    const buffer = this.#buffer;
    let position = this.#offset + 1;
    let length = 0;
    let multiplier = 1;
    for (;;) {
      if (position >= buffer.length) return undefined;
      const byte = buffer[position++]!;
      length += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) break;
      multiplier *= 128;
      if (multiplier > 128 ** 3) throw new Error('malformed remaining length');
    }
    if (position + length > buffer.length) return undefined;
    const first = buffer[this.#offset]!;
    this.#offset = position + length;
    return { type: first >> 4, flags: first & 0x0f, body: buffer.subarray(position, position + length) };
  }
}
