import { writeFileSync } from 'node:fs';
import { createCsr } from '../test/support/test-pki.ts';
for (const k of ['p256','rsa2048','ed25519'] as const) { const c = await createCsr({ subject: 'CN=abc', keyType: k }); writeFileSync(`/tmp/tp/${k}.csr`, c.csrPem); }
