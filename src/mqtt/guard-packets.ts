import type { Client } from 'aedes';
import { MAX_PAYLOAD_BYTES } from './authorize-packets.ts';

// A packet may carry the 128 KiB payload plus a topic (at most 65,535 bytes) and headers; anything
// longer is refused as soon as its length field is read, before it is buffered in memory.
export const MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + 65_535 + 16;

interface PacketParser {
  packet: { length: number; cmd?: string };
  _parseLength(): boolean;
  _emitError(error: Error): void;
  prependListener(event: 'packet', listener: (packet: SubscribePacket) => void): void;
}

interface SubscribePacket { cmd: string; subscriptions?: { qos: number }[] }

// QoS 0 and 1 only (README, "Connect an agent"): a QoS 2 request is granted 1 (MQTT 3.1.1 §3.8.4: the server may grant less).
const lowerQos2 = (packet: SubscribePacket): void => {
  if (packet.cmd !== 'subscribe') return;
  for (const subscription of packet.subscriptions ?? []) {
    if (subscription.qos > 1) subscription.qos = 1;
  }
};

// One guarded function per original (the parser prototype's): no closure per client.
const guardedParseLengths = new Map<PacketParser['_parseLength'], PacketParser['_parseLength']>();
const guardParseLength = (parseLength: PacketParser['_parseLength']): PacketParser['_parseLength'] => {
  let guarded = guardedParseLengths.get(parseLength);
  if (!guarded) {
    guarded = function guardedParseLength(this: PacketParser): boolean {
      const isComplete = parseLength.call(this);
      if (isComplete && this.packet.length > MAX_PACKET_BYTES) {
        this._emitError(new Error(`packet of ${this.packet.length} bytes exceeds ${MAX_PACKET_BYTES}`));
        return false;
      }
      return isComplete;
    };
    guardedParseLengths.set(parseLength, guarded);
  }
  return guarded;
};

// aedes 1.2 exposes no packet size limit and computes a SUBACK's granted QoS before any hook can
// change it, so both are enforced on the client's mqtt-packet parser (pinned aedes version; both
// behaviours are covered by broker tests).
export const guardPackets = (client: Client): void => {
  const parser = (client as unknown as { _parser: PacketParser })._parser;
  parser._parseLength = guardParseLength(parser._parseLength);
  parser.prependListener('packet', lowerQos2);
};
