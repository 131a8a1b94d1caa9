import type { Client } from 'aedes';
import { MAX_PAYLOAD_BYTES } from './authorize-packets.ts';

// A packet may carry the 128 KiB payload plus a topic (at most 65,535 bytes) and headers; anything
// longer is refused as soon as its length field is read, before it is buffered in memory.
export const MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + 65_535 + 16;

interface PacketParser {
  packet: { length: number; cmd?: string };
  /** The parser's steps, by method name: it calls `this[_states[i]]()` for each (mqtt-packet 9). */
  _states: string[];
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

// The length step, guarded, is a method of the parser's prototype under a name of its own, and
// each guarded parser's steps name it instead of `_parseLength`: no function stored on each
// parser, so every parser keeps one object shape on its per-packet path (issue 18). A parser that
// is not guarded (none in the broker) never calls it.
const GUARDED_PARSE_LENGTH = '_trustgateGuardedParseLength';
const guardedStates = new WeakMap<object, string[]>();
const guardedStatesOf = (parser: PacketParser): string[] => {
  const prototype = Object.getPrototypeOf(parser) as PacketParser & Record<string, unknown>;
  let states = guardedStates.get(prototype);
  if (!states) {
    const parseLength = prototype._parseLength;
    // Defined once per prototype (another copy of this module finds it there already).
    if (!Object.hasOwn(prototype, GUARDED_PARSE_LENGTH)) Object.defineProperty(prototype, GUARDED_PARSE_LENGTH, {
      value: function guardedParseLength(this: PacketParser): boolean {
        const isComplete = parseLength.call(this);
        if (isComplete && this.packet.length > MAX_PACKET_BYTES) {
          this._emitError(new Error(`packet of ${this.packet.length} bytes exceeds ${MAX_PACKET_BYTES}`));
          return false;
        }
        return isComplete;
      },
    });
    states = parser._states.map((state) => (state === '_parseLength' ? GUARDED_PARSE_LENGTH : state));
    // Fail closed: a parser version without this step would parse unguarded.
    if (!states.includes(GUARDED_PARSE_LENGTH)) throw new Error('mqtt-packet parser without a _parseLength step: the packet size guard cannot be installed');
    Object.freeze(states);
    guardedStates.set(prototype, states);
  }
  return states;
};

// aedes 1.2 exposes no packet size limit and computes a SUBACK's granted QoS before any hook can
// change it, so both are enforced on the client's mqtt-packet parser (pinned aedes version; both
// behaviours are covered by broker tests).
export const guardPackets = (client: Client): void => {
  const parser = (client as unknown as { _parser: PacketParser })._parser;
  parser._states = guardedStatesOf(parser);
  parser.prependListener('packet', lowerQos2);
};
