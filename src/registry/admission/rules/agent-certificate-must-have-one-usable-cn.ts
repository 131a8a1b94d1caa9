import { commonNameProblem } from '../agent-common-name.ts';
import type { AdmissionRule } from '../admission-rule.ts';

const showName = (name: string): string => JSON.stringify(name).replace(/[\uD800-\uDFFF\uFDD0-\uFDEF\uFFFE\uFFFF]/g, (char) => `\\u${char.charCodeAt(0).toString(16).toUpperCase()}`);

export const agentCertificateMustHaveOneUsableCn: AdmissionRule = {
  id: 'agent-certificate-must-have-one-usable-cn',
  step: 'commonName',
  citation: 'MindConnect: client id <tenant>_<CN>; RFC 5280 ub-common-name 64; MQTT-1.5.3-1',
  check: ({ certificate: { subjectCommonNames: names } }) => {
    const [name] = names;
    const problem = names.length === 1 && name !== undefined ? commonNameProblem(name) : `found ${names.length === 0 ? 'none' : names.length}`;
    return problem === undefined ? undefined : {
      code: 'mqtt.commonNameInvalid',
      message: `The agent certificate needs exactly one CN of 1-64 characters without "/", "+", "#", NUL, Unicode noncharacters (such as U+FFFF) or unpaired surrogates; it becomes part of the client id and topics (${names.length === 1 ? `CN ${showName(name!).slice(0, 200)}: ` : ''}${problem}${names.length > 1 ? `: ${names.map(showName).join(', ')}` : ''}).`,
    };
  },
  passed: ({ certificate }) => `CN "${certificate.subjectCommonNames[0]!}".`,
};
