import { isDomainError } from '../shared/index.ts';
import { admitAgent, type AdmitAgentInput } from './admit-agent.ts';
import type { RegistryDependencies } from './ports.ts';

/** How long a refusal for an untrusted CA may wait for this node to catch up with the cluster bus. */
export const CATCH_UP_BOUND_MS = 1000;

/** The refusals another node's API may have just made wrong: the CA is trusted there, its event on the way. */
const mayBeBehind = (error: unknown): boolean =>
  isDomainError(error) && (error.code === 'mqtt.unknownCa' || error.code === 'mqtt.caNotVerified');

// Another node's API may have just trusted an agent's CA (registered and verified it, created a
// managed CA): its event reaches this node milliseconds later, and an agent connecting here in
// between must not be refused. Before refusing for an unknown or unverified CA, the node catches
// up with every event published so far, then asks once more. A single node has nothing to catch
// up with (catchUp answers false at once) and refuses straight away.
export const admitAgentCaughtUp = async (
  dependencies: Pick<RegistryDependencies, 'agents' | 'clock' | 'settings' | 'trustIndex' | 'events' | 'audit'>,
  input: AdmitAgentInput,
): ReturnType<typeof admitAgent> => {
  try {
    return await admitAgent(dependencies, input);
  } catch (error) {
    if (!mayBeBehind(error)) throw error;
    if (!await dependencies.events.catchUp(CATCH_UP_BOUND_MS)) throw error;
    return admitAgent(dependencies, input);
  }
};
