export type { CaCertificateRecord, NewCaCertificateRecord } from './ca-certificate.ts';
export type {
  AgentCertificateStore, AgentStore, CaCertificateStore, ManagedCaStore, RegistryDependencies, RegistryEventSink, RegistrySettings, RevokedSerial,
} from './ports.ts';
export type { AgentCertificateChange, AgentCertificateValidity, AgentConnection, AgentListFilter, AgentRecord, RecordedConnection } from './agent.ts';
export { agentCertificateValidityOf, certificateChangeOf, matchesAgentListFilter } from './agent.ts';
export { InMemoryAgentStore } from './in-memory-agent-store.ts';
export type {
  AgentCertificateRecord, AgentCertificateStatus, ManagedCaCertificate, ManagedCaRecord, NewAgentCertificateRecord,
} from './agent-certificate.ts';
export { statusOf } from './agent-certificate.ts';
export type { AgentCertificateView } from './agent-certificate-view.ts';
export type { CreatedAgentCertificate } from './create-agent-certificate.ts';
export { RENEWAL_INTERVAL_MS, type RenewAgentCertificateInput, type RenewalSubject } from './renew-agent-certificate.ts';
export { InMemoryAgentCertificateStore } from './in-memory-agent-certificate-store.ts';
export { InMemoryManagedCaStore } from './in-memory-managed-ca-store.ts';
export { TrustIndex, type IndexedCaCertificate } from './trust-index.ts';
export { applyToTrustIndex, loadTrustIndex, type LiveAgentSession, type TrustSources } from './sync-trust-index.ts';
export { isTopicSafeLevel } from './topic-level.ts';
export type { AdmissionStep } from './agent-admission.ts';
export type { Diagnosis } from './diagnose-agent-certificate.ts';
export type { RegistryEvent, StoredRecord } from './events.ts';
export type { ClusterBus, RegistryEventFeed, RegistryEventListener, ResyncHandler } from './cluster-bus.ts';
export type { TrustChangeCounter } from './trust-changes.ts';
export type { TrustEventOutbox } from './trust-event-outbox.ts';
export {
  DEFAULT_MAX_PENDING_TRUST_EVENTS, DEFAULT_RELAY_POLL_MS, FLUSH_BOUND_MS, publishThroughOutbox, relayTrustEvents, type RelayLog, type TrustEventRelay,
  type TrustEventRelayOptions,
} from './relay-trust-events.ts';
export { pollTrustChanges, type TrustChangePoll, type TrustChangePollOptions } from './poll-trust-changes.ts';
export {
  followRegistryEvents, type AgentSessions, type FollowerLog, type RegistryEventFollower, type RegistryEventFollowerOptions,
} from './follow-registry-events.ts';
export { createRegistry, type Registry } from './create-registry.ts';
export { InMemoryCaCertificateStore } from './in-memory-ca-certificate-store.ts';
export { duplicateAgentCertificate, duplicateCaCertificate, caCertificateLimitReached, keyOfManagedCa, keyVerifiedByOtherTenant } from './store-errors.ts';
export { newRegistrationCode } from './registration-code.ts';
export type { RevocationStore } from './ports.ts';
export { isNotOlderCrl, type CrlRecord, type RevocationRecord } from './revocation.ts';
export { InMemoryRevocationStore, crlReplayed } from './in-memory-revocation-store.ts';
export type { CrlView, RevocationView } from './revocation-use-cases.ts';
export { auditActions, InMemoryAuditTrail, type AuditAction, type AuditActor, type AuditEntry, type AuditOutcome, type AuditTrail } from './audit-trail.ts';
export type { AuditRecorder } from './audit-trail.ts';
export { agentContext, auditEntryOf, SYSTEM_ACTOR, systemContext, type AuditContext, type AuditFacts } from './audit-context.ts';
export type { AuditEventPosition, AuditEventQuery, AuditEventStore, StoredAuditEvent } from './audit-event-store.ts';
export {
  DEFAULT_AUDIT_PAGE_SIZE, decodeAuditCursor, encodeAuditCursor, listAuditEvents, MAX_AUDIT_PAGE_SIZE, type AuditEventPage, type ListAuditEventsInput,
} from './list-audit-events.ts';
export { AUDIT_PRUNE_BATCH_SIZE, pruneAuditEvents } from './prune-audit-events.ts';
export { watchAgents, type AgentChange, type AgentSubscription, type AgentWatch, type AgentWatchOptions } from './watch-agents.ts';
export type { MqttBans, MqttBanView } from './mqtt-bans.ts';
export { webhookEventTypes, type WebhookEvent, type WebhookEventSink, type WebhookEventType } from './webhook-events.ts';
export { webhookEventOfAuditEntry } from './webhook-event-of-audit-entry.ts';
export {
  checkWebhookUrl, isSpecialAddress, isWebhookAddressAllowed, webhookHostOf, MAX_WEBHOOK_URL_LENGTH, type WebhookTargetPolicy,
} from './webhook-target.ts';
export {
  createWebhookUseCases, DEFAULT_DELIVERY_PAGE_SIZE, MAX_DELIVERY_PAGE_SIZE, MAX_WEBHOOK_SECRET_LENGTH, MIN_WEBHOOK_SECRET_LENGTH,
  type Webhook, type WebhookDelivery, type WebhookDeliveryPage, type WebhookDeliveryStatus, type WebhookInput, type WebhookSettings,
  type WebhookStore, type WebhookSubscription, type WebhookUseCases,
} from './webhooks.ts';
export {
  agentBacklogFull, agentReportedStatuses, commandStatuses, DEFAULT_PENDING_COMMANDS_PER_AGENT, isTerminalCommandStatus, MAX_COMMANDS_PER_CLAIM, jobStatusOf, terminalCommandStatuses, undeliveredCommandStatuses,
  type AgentCommandUpdate, type AgentReportedStatus, type CommandRecord, type CommandStatus, type CommandToSend, type CommandUpdateOutcome,
  type DeliveryJobPosition, type DeliveryJobRecord, type DeliveryJobStatus, type DeliveryJobStore,
} from './delivery-job.ts';
export {
  createCommanding, DEFAULT_COMMAND_EXPIRY_MS, MAX_CLIENT_IDS_PER_JOB, MAX_JOB_DATA_BYTES, MAX_JOB_NAME_LENGTH, type CommandDispatch, type Commanding,
  type CommandingDependencies, type CreateDeliveryJobInput, type DeliveryJobPage,
} from './delivery-job-use-cases.ts';
export {
  AGENT_TOKEN_REQUEST_INTERVAL_MS, type AgentTokenGrant, type AgentTokenRequestLimit, type AgentTokenSigner, createIssueAgentToken,
  InMemoryAgentTokenRequestLimit, type IssueAgentToken, type IssueAgentTokenDependencies,
} from './issue-agent-token.ts';
