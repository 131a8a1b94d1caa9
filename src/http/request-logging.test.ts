import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { requestIdOf } from './request-logging.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const idFor = (header: string | string[] | undefined): string =>
  requestIdOf({ headers: header === undefined ? {} : { 'x-request-id': header } } as unknown as IncomingMessage);

describe('the request id (X-Request-Id)', () => {
  it('keeps an acceptable id a proxy sent', () => {
    for (const id of ['3f2b8c1e-7a44-4f0e-9c7b-2d1e5a6b7c8d', 'lb-00042', 'Root=1-67891233-abcdef012345678912345678', 'a'.repeat(128)]) {
      assert.equal(idFor(id), id);
    }
  });

  it('replaces a missing, too long, multi-line, non-ASCII, spaced or repeated one with a fresh UUID', () => {
    for (const hostile of [undefined, '', 'a'.repeat(129), 'abc\r\nX-Injected: 1', 'abc\ndef', 'caf\u00e9', '\u202eevil', 'a b', 'tab\there', '<script>', '"quoted"', ['one', 'two']]) {
      const id = idFor(hostile);
      assert.match(id, UUID, JSON.stringify(hostile));
    }
    assert.notEqual(idFor(undefined), idFor(undefined), 'a new one each time');
  });
});
