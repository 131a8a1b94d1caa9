import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { baseUrlOf, serverError } from './api-client.ts';
import { CliError, EXIT } from './cli-error.ts';

describe('api-client', () => {
  test('baseUrlOf: origin and path without trailing slashes; the API base path may be given too', () => {
    assert.equal(baseUrlOf('http://localhost:8080'), 'http://localhost:8080');
    assert.equal(baseUrlOf('http://localhost:8080/'), 'http://localhost:8080');
    assert.equal(baseUrlOf('https://iot.example/trustgate//'), 'https://iot.example/trustgate');
    assert.equal(baseUrlOf('http://localhost:8080/api/mindconnectmqtt/v3/'), 'http://localhost:8080');
  });

  test('baseUrlOf: anything but an http(s) URL is a usage error', () => {
    for (const raw of ['localhost:8080', 'ftp://example.com', 'not a url']) {
      assert.throws(() => baseUrlOf(raw), (error: unknown) => error instanceof CliError && error.exitCode === EXIT.usage);
    }
  });

  test('serverError reads the first error of a MindConnect body, and nothing else', () => {
    assert.deepEqual(serverError('{"errors":[{"code":"caCertificate.limitReached","logref":"x","message":"Full."}]}'), { code: 'caCertificate.limitReached', message: 'Full.' });
    assert.equal(serverError('<html>'), undefined);
    assert.equal(serverError('{"errors":[]}'), undefined);
  });
});
