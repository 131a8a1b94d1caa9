import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, sharedTestKeyPair } from '../../../../test/support/test-pki.ts';
import { parseCertificatePem } from '../../certificate.ts';
import type { LintContext } from '../lint-rule.ts';
import { caMustBeValidNow } from './ca-must-be-valid-now.ts';

const now = new Date('2030-06-15T12:00:00.000Z');
const clockSkewMs = 5 * 60_000;
const context: LintContext = { now, clockSkewMs };
const at = (offsetMs: number): Date => new Date(now.getTime() + offsetMs);
const DAY_MS = 86_400_000;

const cases: { name: string; notBefore: Date; notAfter: Date; expected?: { code: string; message: RegExp } }[] = [
  { name: 'valid for a year around now passes', notBefore: at(-DAY_MS), notAfter: at(365 * DAY_MS) },
  { name: 'notAfter exactly now passes (RFC 5280: the validity period is inclusive)', notBefore: at(-DAY_MS), notAfter: now },
  { name: 'notAfter in GeneralizedTime (2060) passes', notBefore: at(-DAY_MS), notAfter: new Date('2060-01-01T00:00:00.000Z') },
  { name: 'notBefore within the clock skew passes', notBefore: at(clockSkewMs - 1000), notAfter: at(DAY_MS) },
  { name: 'notBefore exactly at the skew boundary passes', notBefore: at(clockSkewMs), notAfter: at(DAY_MS) },
  {
    name: 'expired one second ago fails',
    notBefore: at(-365 * DAY_MS), notAfter: at(-1000),
    expected: { code: 'caCertificate.expired', message: /expired at 2030-06-15T11:59:59\.000Z\. Create a new CA certificate \(e\.g\. "openssl req -x509 -days 1825/ },
  },
  {
    // The skew only forgives a fast clock on the creating machine, never an expired certificate.
    name: 'expired within the skew still fails',
    notBefore: at(-365 * DAY_MS), notAfter: at(-60_000),
    expected: { code: 'caCertificate.expired', message: /expired at 2030-06-15T11:59:00\.000Z/ },
  },
  {
    name: 'not yet valid beyond the skew fails',
    notBefore: at(clockSkewMs + 1000), notAfter: at(DAY_MS),
    expected: { code: 'caCertificate.notYetValid', message: /not valid before 2030-06-15T12:05:01\.000Z \(server time 2030-06-15T12:00:00\.000Z\)\. Check the clock/ },
  },
  {
    name: 'valid only next year fails',
    notBefore: at(365 * DAY_MS), notAfter: at(2 * 365 * DAY_MS),
    expected: { code: 'caCertificate.notYetValid', message: /not valid before 2031-06-15T12:00:00\.000Z/ },
  },
];

describe(caMustBeValidNow.id, () => {
  test('cites RFC 5280', () => assert.match(caMustBeValidNow.citation, /RFC 5280 §4\.1\.2\.5/));

  for (const { name, notBefore, notAfter, expected } of cases) {
    test(name, async () => {
      const certificate = await createCa({ notBefore, notAfter, keyPair: await sharedTestKeyPair() });
      const finding = caMustBeValidNow.check(parseCertificatePem(certificate.certificatePem), context);
      if (!expected) {
        assert.equal(finding, undefined);
        return;
      }
      assert.equal(finding?.code, expected.code);
      assert.match(finding.message, expected.message);
    });
  }

  test('a zero skew makes a certificate starting one second from now not yet valid', async () => {
    const certificate = parseCertificatePem((await createCa({ notBefore: at(1000), notAfter: at(DAY_MS), keyPair: await sharedTestKeyPair() })).certificatePem);
    assert.equal(caMustBeValidNow.check(certificate, { now, clockSkewMs: 0 })?.code, 'caCertificate.notYetValid');
    assert.equal(caMustBeValidNow.check(certificate, context), undefined);
  });
});
