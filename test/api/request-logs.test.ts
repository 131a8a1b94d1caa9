import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newTenant, uploadCaOk } from '../support/api-helpers.ts';
import { captureLogs, LEVELS, type CapturedLogs } from '../support/capture-logs.ts';
import { startTestServer, type TestServer } from '../support/start-test-server.ts';
import { createCa } from '../support/test-pki.ts';

// What the REST API's log tells an on-call engineer (issue 14, item 2): probes out of the info
// level, every change naming the tenant and the token's subject, and a request id a proxy can set.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('request logs', () => {
  let server: TestServer;
  let logs: CapturedLogs;
  before(async () => {
    logs = captureLogs('debug');
    server = await startTestServer({}, { logger: logs.logger });
  });
  after(() => server.close());

  const linesOf = (reqId: string) => logs.lines.filter((line) => line.reqId === reqId);

  it('probe requests (/healthz, /readyz, /metrics) are logged at debug; other requests at info', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const response = await fetch(`${server.url}${path}`, { headers: { 'x-request-id': `probe${path.replace('/', '-')}` } });
      await response.arrayBuffer();
      const lines = linesOf(`probe${path.replace('/', '-')}`);
      assert.deepEqual(lines.map((line) => [line.msg, line.level]), [['incoming request', LEVELS.debug], ['request completed', LEVELS.debug]], path);
    }
    const listed = await fetch(`${server.apiUrl}/caCertificates`, { headers: { authorization: `Bearer ${await server.token('probe-control')}`, 'x-request-id': 'api-call-1' } });
    assert.equal(listed.status, 200);
    assert.deepEqual(linesOf('api-call-1').filter((line) => line.msg.startsWith('request') || line.msg.startsWith('incoming')).map((line) => line.level), [LEVELS.info, LEVELS.info], 'an API call stays at info');
  });

  it('an acceptable X-Request-Id is the request id: in every log line, the response header and an error\'s logref', async () => {
    const id = 'edge-7f3a9c2e-0001';
    const response = await fetch(`${server.apiUrl}/caCertificates/${'0'.repeat(24)}`, { headers: { authorization: `Bearer ${await server.token('rid')}`, 'x-request-id': id } });
    const body = await response.json() as { errors: { logref: string }[] };
    assert.equal(response.status, 404);
    assert.equal(response.headers.get('x-request-id'), id);
    assert.equal(body.errors[0]?.logref, id);
    assert.ok(linesOf(id).some((line) => line.msg === 'request completed'), 'the completion line carries it');
  });

  it('a hostile X-Request-Id (too long, non-ASCII, spaces, several) is replaced by a fresh UUID, never logged', async () => {
    // CR/LF cannot reach the server inside a header value (the HTTP parser ends the header there):
    // src/http/request-logging.test.ts checks those against the function itself.
    const hostile = ['x'.repeat(129), 'caf\u00e9-latin1', 'two words', 'a,b'];
    for (const value of hostile) {
      const response = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': value } });
      await response.arrayBuffer();
      const id = response.headers.get('x-request-id') ?? '';
      assert.match(id, UUID, `${JSON.stringify(value)} replaced`);
      assert.ok(linesOf(id).length > 0, 'the replacement is the id logged');
    }
    assert.deepEqual(logs.lines.filter((line) => hostile.includes(String(line.reqId))), [], 'no log line carries a hostile id');
    const noHeader = await fetch(`${server.url}/healthz`);
    assert.match(noHeader.headers.get('x-request-id') ?? '', UUID, 'without the header: a UUID');
  });

  it('a change names the tenant and the token\'s subject (CA uploaded, deleted), as does the request\'s completion line', async () => {
    const tenant = newTenant('lg');
    const ca = await createCa({ subject: 'CN=log test CA' });
    const uploaded = await uploadCaOk(server, tenant, ca);
    const line = (await logs.next('CA certificate uploaded', { caCertificateId: uploaded.id }));
    assert.equal(line.tenant, tenant);
    assert.equal(line.subject, `dev-user@${tenant}`);
    assert.equal(line.level, LEVELS.info);
    const completed = logs.find('request completed', { reqId: line.reqId as string });
    assert.equal(completed[0]?.tenant, tenant);
    const deleted = await server.api(tenant, `/caCertificates/${uploaded.id}`, { method: 'DELETE' });
    assert.equal(deleted.status, 204);
    const deletedLine = await logs.next('CA certificate deleted', { caCertificateId: uploaded.id });
    assert.deepEqual([deletedLine.tenant, deletedLine.subject], [tenant, `dev-user@${tenant}`]);
  });
});

describe('request logs: a refused /metrics scrape', () => {
  let server: TestServer;
  let logs: CapturedLogs;
  before(async () => {
    logs = captureLogs('debug');
    server = await startTestServer({ TRUSTGATE_METRICS_TOKEN: 'metrics-token-0123456789' }, { logger: logs.logger });
  });
  after(() => server.close());

  it('is logged at info with the caller\'s address, like any other refused request: guessing the metrics token is not hidden at debug', async () => {
    const refused = await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer guessed-token-000000000', 'x-request-id': 'metrics-guess-1' } });
    await refused.arrayBuffer();
    assert.equal(refused.status, 401);
    const completed = logs.lines.filter((line) => line.reqId === 'metrics-guess-1' && line.msg === 'request completed');
    assert.equal(completed.length, 1);
    assert.equal(completed[0]!.level, LEVELS.info);
    assert.equal((completed[0]!.res as { statusCode: number }).statusCode, 401);
    assert.equal((completed[0]!.req as { remoteAddress: string }).remoteAddress, '127.0.0.1');
    // Positive control: the scraper with the token stays at debug.
    const scraped = await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789', 'x-request-id': 'metrics-scrape-1' } });
    await scraped.arrayBuffer();
    assert.equal(scraped.status, 200);
    assert.deepEqual(logs.lines.filter((line) => line.reqId === 'metrics-scrape-1').map((line) => line.level), [LEVELS.debug, LEVELS.debug]);
  });
});
