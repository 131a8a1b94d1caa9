import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { baseUrlOf, inCliTerms, serverError } from './api-client.ts';
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

  test('inCliTerms names the CLI command where the server\'s message names an API list call, and leaves other paths alone', () => {
    assert.equal(inCliTerms('No CA certificate with id "x" in your tenant. List yours with GET /caCertificates.'), 'No CA certificate with id "x" in your tenant. List yours with "trustgate ca list".');
    assert.equal(inCliTerms('No agent with id "x" in your tenant. List yours with GET /agents.'), 'No agent with id "x" in your tenant. List yours with "trustgate agent list".');
    assert.equal(inCliTerms('Use the existing one (GET /caCertificates) instead.'), 'Use the existing one ("trustgate ca list") instead.');
    assert.equal(inCliTerms('see GET /caCertificates/{id} and GET /agents/x'), 'see GET /caCertificates/{id} and GET /agents/x');
  });

  test('serverError reads the first error of a MindConnect body, and nothing else', () => {
    assert.deepEqual(serverError('{"errors":[{"code":"caCertificate.limitReached","logref":"x","message":"Full."}]}'), { code: 'caCertificate.limitReached', message: 'Full.' });
    assert.equal(serverError('<html>'), undefined);
    assert.equal(serverError('{"errors":[]}'), undefined);
  });
});
