import { DomainError } from '../shared/index.ts';

// The name becomes the certificate's CN (RFC 5280 ub-common-name: 64), one level of the client id
// `<tenant>_<name>` and of topics `tc/<tenant>/<clientId>/...`: no `/ + #`, no control characters,
// no spaces, nothing a shell or a file name trips over. Starting with a letter or digit keeps
// names like "-v" or "." from reading as options or paths in the CLI.
export const AGENT_CERTIFICATE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const checkAgentCertificateName = (name: string): string => {
  if (AGENT_CERTIFICATE_NAME_PATTERN.test(name)) return name;
  const shown = name.length > 80 ? `${JSON.stringify(name.slice(0, 80))}… (${name.length} characters)` : JSON.stringify(name);
  throw new DomainError('agentCertificate.nameInvalid',
    `The name ${shown} cannot be an agent name: use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. "pump-1"). It becomes the certificate's CN and the client id <tenant>_<name>.`);
};
