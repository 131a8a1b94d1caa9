import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './load-config.ts';
import { MINDCONNECT_RATE_LIMITS, NO_RATE_LIMITS } from './rate-limit-policy.ts';

// TRUSTGATE_RATE_LIMITS (issue 16): the default, `off`, a JSON file (docs/limits.md); a bad file
// stops the start with one line naming the variable, the file and what is wrong.

describe('TRUSTGATE_RATE_LIMITS', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trustgate-rate-policy-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const file = async (name: string, content: string): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, content);
    return path;
  };

  it('is MindConnect\'s table by default and with `mindconnect`; `off` has no REST or MQTT limits', () => {
    assert.equal(loadConfig({}).limits.rateLimits, MINDCONNECT_RATE_LIMITS);
    assert.equal(loadConfig({ TRUSTGATE_RATE_LIMITS: 'mindconnect' }).limits.rateLimits, MINDCONNECT_RATE_LIMITS);
    const off = loadConfig({ TRUSTGATE_RATE_LIMITS: 'off' }).limits.rateLimits;
    assert.equal(off, NO_RATE_LIMITS);
    assert.equal(off.rest, undefined);
    assert.equal(off.mqtt, undefined);
  });

  it('reads a JSON file: its routes and windows, the default for other routes, null = off for a part', async () => {
    const path = await file('policy.json', JSON.stringify({
      rest: { routes: [{ method: 'POST', route: '/caCertificates', windows: [{ max: 3, windowMs: 1000 }, { max: 5, windowMs: 60000 }] }] },
      mqtt: null,
    }));
    const policy = loadConfig({ TRUSTGATE_RATE_LIMITS: path }).limits.rateLimits;
    assert.equal(policy.source, path);
    assert.deepEqual(policy.rest?.routes, [{ method: 'POST', route: '/caCertificates', windows: [{ max: 3, windowMs: 1000 }, { max: 5, windowMs: 60000 }] }]);
    assert.deepEqual(policy.rest?.otherRoutes, MINDCONNECT_RATE_LIMITS.rest!.otherRoutes);
    assert.equal(policy.mqtt, undefined);
  });

  const refusals: [string, string | undefined, RegExp][] = [
    ['a missing file', undefined, /must be mindconnect, off or a readable JSON file \(.*missing\.json: ENOENT/],
    ['broken JSON', '{"rest": ', /must be mindconnect, off or a readable JSON file \(.*broken JSON.json: /],
    ['an array', '[]', /must hold a JSON object with "rest" and "mqtt"/],
    ['an unknown key', '{"rest": null, "limits": {}}', /has unknown keys: limits \(allowed: rest, mqtt\)/],
    ['a window with max 0', '{"rest": {"routes": [{"method": "POST", "route": "/caCertificates", "windows": [{"max": 0, "windowMs": 1000}]}]}}', /rest\.routes\[0\]\.windows\[0\]\.max must be a positive number/],
    ['no windows', '{"rest": {"routes": [{"method": "POST", "route": "/caCertificates", "windows": []}]}}', /rest\.routes\[0\]\.windows must be a non-empty array of \{max, windowMs\}/],
    ['a route without its leading slash', '{"rest": {"routes": [{"method": "POST", "route": "caCertificates", "windows": [{"max": 1, "windowMs": 1000}]}]}}', /rest\.routes\[0\] must be \{method, route: "\/…", windows\}/],
    ['an unknown method', '{"rest": {"routes": [{"method": "FETCH", "route": "/x", "windows": [{"max": 1, "windowMs": 1000}]}]}}', /rest\.routes\[0\]\.method must be GET, POST, PUT, PATCH or DELETE/],
    ['a window in seconds as a string', '{"rest": {"otherRoutes": [{"max": 1, "windowMs": "30s"}]}}', /rest\.otherRoutes\[0\]\.windowMs must be a positive number/],
  ];
  for (const [what, content, message] of refusals) {
    it(`refuses ${what}, naming the variable and the problem`, async () => {
      const path = content === undefined ? join(dir, 'missing.json') : await file(`${what}.json`, content);
      assert.throws(() => loadConfig({ TRUSTGATE_RATE_LIMITS: path }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.problems.length, 1);
        assert.match(error.problems[0]!, /^TRUSTGATE_RATE_LIMITS="/);
        assert.match(error.problems[0]!, message);
        return true;
      });
    });
  }
});
