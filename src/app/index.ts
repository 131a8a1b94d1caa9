export { superviseWorkers, WorkerStartError, type RunningWorkers, type WorkerReady } from './supervise-workers.ts';
export { startApp, defaultNodeId, databaseUrlOf, type AppOptions, type AppPhase, type RunningApp } from './start-app.ts';
export { createLogger } from './create-logger.ts';
export { backUpDataDir, BackupError, DATA_DIR_KEY_FILES, SQLITE_DATABASE_FILE, type BackupResult } from './back-up-data-dir.ts';
export { BROKER_ROOT_CA_KEY_FILE } from './broker-tls-identity.ts';
export { ListenError, type ListenFailure } from './listen-error.ts';
export {
  AGENT_TOKEN_KEY_ACTIVATION_MS, type AgentTokenKeyView, listAgentTokenKeys, rotateAgentTokenKey, type RotatedAgentTokenKeys,
} from './agent-token-keys.ts';
