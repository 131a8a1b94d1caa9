import { AGENT_NAME_RULE, agentNameProblem, DomainError, showName } from '../shared/index.ts';

// The one rule for agent names (src/shared/names.ts), as the registry refuses a name it would
// issue a certificate for: the CLI applies the same rule before it issues locally.
export const checkAgentCertificateName = (name: string): string => {
  const problem = agentNameProblem(name);
  if (problem === undefined) return name;
  throw new DomainError('agentCertificate.nameInvalid',
    `The name ${showName(name)} cannot be an agent name: ${problem}. Use ${AGENT_NAME_RULE}. It becomes the certificate's CN and the client id <tenant>_<name>.`);
};
