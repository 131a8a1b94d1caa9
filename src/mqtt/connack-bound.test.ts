import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { Aedes, Client } from 'aedes';
import { boundConnack } from './connack-bound.ts';

interface FakeClient { id: string; closed: boolean; connackSent: boolean; conn: PassThrough; close(): void; written: Buffer[] }

const fakeClient = (id: string): FakeClient => {
  const conn = new PassThrough();
  const client: FakeClient = {
    id, closed: false, connackSent: false, conn, written: [],
    close() {
      client.closed = true;
      conn.destroy();
    },
  };
  conn.on('data', (chunk: Buffer) => client.written.push(chunk));
  return client;
};

const setUp = (boundMs: number) => {
  const broker = new EventEmitter();
  const accepted: string[] = [];
  const timedOut: string[] = [];
  let onTimedOut = (): void => undefined;
  const timedOutOnce = new Promise<void>((resolve) => { onTimedOut = resolve; });
  const bound = boundConnack(broker as unknown as Aedes, {
    boundMs,
    onAccepted: (client) => accepted.push(client.id),
    onTimedOut: (client) => {
      timedOut.push(client.id);
      onTimedOut();
    },
  });
  const connackSent = (client: FakeClient, returnCode: number) => {
    client.connackSent = returnCode === 0 || client.connackSent;
    broker.emit('connackSent', { returnCode }, client);
  };
  return { bound, accepted, timedOut, timedOutOnce, connackSent };
};

describe('boundConnack', () => {
  it('counts a connection as accepted once its CONNACK 0 is written, and never times it out', async () => {
    const { bound, accepted, timedOut, timedOutOnce, connackSent } = setUp(30);
    const answered = fakeClient('answered');
    const late = fakeClient('late');
    bound.admitted(answered as unknown as Client);
    bound.admitted(late as unknown as Client);
    connackSent(answered, 0);
    assert.deepEqual(accepted, ['answered']);
    // The positive control: the other connection's bound passes meanwhile.
    await timedOutOnce;
    assert.deepEqual(timedOut, ['late']);
    assert.equal(answered.closed, false);
    bound.close();
  });

  it('answers an admitted CONNECT not answered within the bound with CONNACK 3, closes it, and does not count it when aedes answers later', async () => {
    const { bound, accepted, timedOut, timedOutOnce, connackSent } = setUp(20);
    const held = fakeClient('held');
    const closed = new Promise<void>((resolve) => held.conn.once('close', resolve));
    bound.admitted(held as unknown as Client);
    await timedOutOnce;
    await closed;
    assert.deepEqual(timedOut, ['held']);
    assert.deepEqual(Buffer.concat(held.written), Buffer.from([0x20, 0x02, 0x00, 0x03]), 'CONNACK, session present 0, return code 3');
    assert.equal(held.closed, true);
    connackSent(held, 0);
    assert.deepEqual(accepted, [], 'a CONNACK aedes writes later does not count it');
    bound.close();
  });

  it('counts no refusal as accepted, and forgets a client that is gone', async () => {
    const { bound, accepted, timedOut, timedOutOnce, connackSent } = setUp(20);
    const refused = fakeClient('refused');
    const gone = fakeClient('gone');
    const control = fakeClient('control');
    bound.admitted(gone as unknown as Client);
    bound.forget(gone as unknown as Client);
    connackSent(refused, 5);
    bound.admitted(control as unknown as Client);
    await timedOutOnce;
    assert.deepEqual(timedOut, ['control'], 'only the control timed out');
    assert.deepEqual(accepted, []);
    assert.equal(gone.closed, false);
    bound.close();
  });
});
