import type { Logger } from 'pino';
import type { CaExpiry } from '../storage/index.ts';
import { runPeriodically, type PeriodicJob } from './run-periodically.ts';

const DAY_MS = 86_400_000;
export const CA_EXPIRY_WARNING_INTERVAL_MS = DAY_MS;
export const CA_EXPIRY_WARNING_WINDOW_MS = 30 * DAY_MS;

export interface CaExpiryWarningsOptions {
  readonly listCaExpiries: () => Promise<CaExpiry[]>;
  readonly logger: Logger;
  readonly now?: () => Date;
  readonly intervalMs?: number;
  /** Called once per check for each CA certificate that expires within 30 days (not yet expired): the certificate.expiring webhook event. */
  readonly onExpiring?: (ca: CaExpiry, daysLeft: number) => void;
}

export type RunningCaExpiryWarnings = PeriodicJob;

// Issue 15, part 3: once at start and then daily, one warning line per CA certificate (uploaded or
// managed, any tenant) that expires within 30 days or has expired, and per imported CRL whose
// nextUpdate is that close or past. Every node logs it (each node's log is complete on its own).
export const startCaExpiryWarnings = ({ listCaExpiries, logger, now = () => new Date(), intervalMs = CA_EXPIRY_WARNING_INTERVAL_MS, onExpiring }: CaExpiryWarningsOptions): RunningCaExpiryWarnings => {
  const check = async (): Promise<void> => {
    const at = now();
    let cas: CaExpiry[];
    try {
      cas = await listCaExpiries();
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'CA expiry check: could not read the CA certificates; next check in a day');
      return;
    }
    for (const ca of cas.sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime())) {
      const leftMs = ca.notAfter.getTime() - at.getTime();
      if (leftMs >= CA_EXPIRY_WARNING_WINDOW_MS) continue;
      const fields = { tenant: ca.tenant, caCertificateId: ca.caCertificateId, caName: ca.name, kind: ca.kind, notAfter: ca.notAfter.toISOString() };
      if (leftMs <= 0) {
        logger.warn(fields, 'CA certificate has expired: its agents are refused; register its successor and re-issue their certificates (docs/ca-rollover.md)');
      } else {
        logger.warn({ ...fields, daysLeft: Math.floor(leftMs / DAY_MS) }, 'CA certificate expires within 30 days: roll it over (docs/ca-rollover.md)');
        onExpiring?.(ca, Math.floor(leftMs / DAY_MS));
      }
    }
    // A CRL past its nextUpdate is still enforced (SPEC), but revocations made since are missing.
    for (const ca of cas.filter((entry) => entry.crlNextUpdate !== undefined).sort((a, b) => a.crlNextUpdate!.getTime() - b.crlNextUpdate!.getTime())) {
      const leftMs = ca.crlNextUpdate!.getTime() - at.getTime();
      if (leftMs >= CA_EXPIRY_WARNING_WINDOW_MS) continue;
      const fields = { tenant: ca.tenant, caCertificateId: ca.caCertificateId, caName: ca.name, nextUpdate: ca.crlNextUpdate!.toISOString() };
      if (leftMs <= 0) {
        logger.warn(fields, 'CRL is stale (past its nextUpdate): still enforced; import the CA\'s current CRL (PUT /caCertificates/{id}/crl)');
      } else {
        logger.warn({ ...fields, daysLeft: Math.floor(leftMs / DAY_MS) }, 'CRL is due within 30 days (nextUpdate): import its successor before then');
      }
    }
  };
  return runPeriodically(check, intervalMs);
};
