import { expectedClientIdOf } from '../expected-client-id.ts';
import type { AdmissionRule } from '../admission-rule.ts';

export const clientIdMustBeTenantAndCn: AdmissionRule = {
  id: 'client-id-must-be-tenant-and-cn',
  step: 'clientId',
  citation: 'MindConnect: client id = <tenant>_<CN>',
  appliesTo: ({ clientId: given }) => given !== undefined,
  check: (subject) => subject.clientId === expectedClientIdOf(subject) ? undefined : {
    code: 'mqtt.clientIdMismatch',
    message: `The client id is "${subject.clientId!}" but must be "${expectedClientIdOf(subject)}" (<tenant>_<CN of the certificate>).`,
  },
  passed: ({ clientId: given }) => `Client id "${given!}" is <tenant>_<CN>.`,
  notApplicable: (subject) => `No client id given; the agent must connect with client id "${expectedClientIdOf(subject)}".`,
};
