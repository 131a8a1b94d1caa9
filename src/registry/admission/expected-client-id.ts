import { issuerOf, type AdmissionSubject } from './admission-rule.ts';

/** The client id an agent must use, `<tenant>_<CN>`, once issuer and CN passed. */
export const expectedClientIdOf = (subject: AdmissionSubject): string => `${issuerOf(subject).tenant}_${subject.certificate.subjectCommonNames[0]!}`;
