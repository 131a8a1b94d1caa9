import { DomainError } from '../shared/index.ts';

// Where a webhook may point (issue 19 part 3, SSRF): only at hosts the operator listed in
// TRUSTGATE_WEBHOOK_ALLOWED_HOSTS, over HTTPS unless the operator allows plain http. Checked when
// a webhook is registered and again before every delivery; the delivery also checks every address
// the name resolves to (isWebhookAddressAllowed) and connects to the address it checked, so a DNS
// answer that changes between the check and the connection cannot send it elsewhere.

export const MAX_WEBHOOK_URL_LENGTH = 2048;

export interface WebhookTargetPolicy {
  /** Lower-case host names and IP addresses (IPv6 without brackets); empty = no webhook may be registered. */
  readonly allowedHosts: readonly string[];
  readonly allowsHttp: boolean;
}

/** The URL's host as the allow-list spells it: lower case, an IPv6 address without its brackets. */
export const webhookHostOf = (url: URL): string => url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');

/** Checks a webhook URL against the policy; the parsed URL, or a catalogued 4xx. */
export const checkWebhookUrl = (raw: string, policy: WebhookTargetPolicy): URL => {
  if (policy.allowedHosts.length === 0) {
    throw new DomainError('webhook.hostsNotConfigured', 'No webhook may be registered on this server: the operator sets TRUSTGATE_WEBHOOK_ALLOWED_HOSTS (comma-separated host names or IP addresses) to allow some.');
  }
  if (raw.length > MAX_WEBHOOK_URL_LENGTH) throw new DomainError('webhook.urlInvalid', `The URL is longer than ${MAX_WEBHOOK_URL_LENGTH} characters.`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DomainError('webhook.urlInvalid', 'The URL is not an absolute URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new DomainError('webhook.urlInvalid', 'The URL must be http(s).');
  if (url.username !== '' || url.password !== '') throw new DomainError('webhook.urlInvalid', 'The URL must not hold credentials (user:password@); sign with the secret instead.');
  if (raw.includes('#')) throw new DomainError('webhook.urlInvalid', 'The URL must not have a fragment (#…).');
  if (url.protocol === 'http:' && !policy.allowsHttp) {
    throw new DomainError('webhook.httpsRequired', 'The URL must be https:// (the operator allows plain http with TRUSTGATE_WEBHOOK_ALLOW_HTTP=true).');
  }
  const host = webhookHostOf(url);
  if (!policy.allowedHosts.includes(host)) {
    throw new DomainError('webhook.hostNotAllowed', `The host ${host} is not in the operator's TRUSTGATE_WEBHOOK_ALLOWED_HOSTS.`);
  }
  return url;
};

const ipv4Octets = (address: string): number[] | undefined => {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  return match ? match.slice(1).map(Number) : undefined;
};

/** Loopback, link-local (cloud metadata at 169.254.169.254), unspecified, multicast or broadcast: never
 *  reached through a name, only when the operator listed the address itself. */
export const isSpecialAddress = (address: string): boolean => {
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  const v4 = ipv4Octets(mapped ? mapped[1]! : lower);
  if (v4) {
    const [a, b] = v4 as [number, number];
    return a === 0 || a === 127 || (a === 169 && b === 254) || a >= 224;
  }
  return lower === '::' || lower === '::1' || /^fe[89ab]/.test(lower) || lower.startsWith('ff');
};

/** Whether a delivery to `host` (as checked by checkWebhookUrl) may connect to `address`, one the name resolved to. */
export const isWebhookAddressAllowed = (host: string, address: string, policy: WebhookTargetPolicy): boolean => {
  const lower = address.toLowerCase();
  if (policy.allowedHosts.includes(lower)) return true;
  // A listed name may resolve where the operator's DNS says, but not to loopback, link-local or
  // metadata addresses (unless it is "localhost" itself, which the operator listed by name).
  return policy.allowedHosts.includes(host) && (!isSpecialAddress(lower) || host === 'localhost');
};
