export { type Scope, SCOPES, grants, parseScopeClaim } from './scopes.ts';
export type { Principal } from './principal.ts';
export {
  DEV_AUDIENCE, DEV_ISSUER, DEV_SIGNING_KEY_FILE, DEV_TOKEN_MAX_TTL_SECONDS, type DevSigningKey, loadDevSigningKey, loadOrCreateDevSigningKey,
} from './dev-issuer.ts';
export { mintDevToken, type MintDevTokenInput } from './mint-dev-token.ts';
export { type TokenVerifier, createDevTokenVerifier, createExternalTokenVerifier } from './token-verifier.ts';
export { cachingTokenVerifier, type TokenCacheOptions } from './caching-token-verifier.ts';
export { createSignInLink, type SignInLink, type SignInLinkOptions } from './sign-in-link.ts';
export {
  AGENT_TOKEN_ALGORITHM, AGENT_TOKEN_AUDIENCE, AGENT_TOKEN_ISSUER, AGENT_TOKEN_SCOPE, AGENT_TOKEN_TTL_SECONDS, AGENT_TOKEN_TYPE,
  type AgentTokenClaimsInput, type AgentTokenKey, generateAgentTokenKey, looksLikeAgentToken, refuseAgentToken, signAgentToken,
} from './agent-token.ts';
export {
  AGENT_TOKEN_KEY_PUBLISH_MARGIN_SECONDS, AGENT_TOKEN_KEY_REFRESH_MS, AgentTokenKeyRing, type AgentTokenKeyRingOptions, type AgentTokenKeySource, type AgentTokenKeysAt,
  agentTokenKeysAt, type SignedAgentToken,
} from './agent-token-key-ring.ts';
