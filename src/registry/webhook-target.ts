import { BlockList, isIP } from 'node:net';
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

// Loopback, link-local (cloud metadata at 169.254.169.254), unspecified, multicast, reserved and
// broadcast (RFC 6890). IPv4 rules also match the IPv4-mapped form ::ffff:a.b.c.d in any spelling
// (node:net BlockList), so ::ffff:7f00:1 is 127.0.0.1 too. IPv4-compatible ::/96 (deprecated, RFC 4291
// 2.5.5.1) is refused whole; NAT64 (RFC 6052, RFC 8215) and 6to4 (RFC 3056) addresses are judged by the
// IPv4 address they carry: 64:ff9b::a9fe:a9fe reaches 169.254.169.254 through a NAT64 gateway.
const SPECIAL = new BlockList();
for (const [network, prefix] of [['0.0.0.0', 8], ['127.0.0.0', 8], ['169.254.0.0', 16], ['224.0.0.0', 3]] as const) SPECIAL.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [['::', 96], ['fe80::', 10], ['ff00::', 8]] as const) SPECIAL.addSubnet(network, prefix, 'ipv6');

/** The eight 16-bit groups of an IPv6 address (a dotted IPv4 tail allowed). */
const ipv6Groups = (address: string): number[] => {
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  const text = dotted ? `${address.slice(0, dotted.index)}${((Number(dotted[1]) << 8) | Number(dotted[2])).toString(16)}:${((Number(dotted[3]) << 8) | Number(dotted[4])).toString(16)}` : address;
  const [head = '', tail] = text.split('::');
  const first = head === '' ? [] : head.split(':');
  const last = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...first, ...Array<string>(tail === undefined ? 0 : 8 - first.length - last.length).fill('0'), ...last];
  return groups.map((group) => Number.parseInt(group, 16));
};

const ipv4OfGroups = (high: number, low: number): string => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;

/** The IPv4 address a NAT64 or 6to4 address carries, if it is one. */
const embeddedIpv4 = (address: string): string | undefined => {
  const groups = ipv6Groups(address);
  if (groups[0] === 0x64 && groups[1] === 0xff9b) return ipv4OfGroups(groups[6]!, groups[7]!); // 64:ff9b::/96, 64:ff9b:1::/48
  if (groups[0] === 0x2002) return ipv4OfGroups(groups[1]!, groups[2]!);
  return undefined;
};

/** Loopback, link-local (cloud metadata), unspecified, multicast, reserved or broadcast, also when
 *  mapped into or carried by IPv6: never reached through a name, only when the operator listed the
 *  address itself. Anything that is not an IP address counts as special (fails closed). */
export const isSpecialAddress = (address: string): boolean => {
  const lower = address.toLowerCase();
  const family = isIP(lower);
  if (family === 4) return SPECIAL.check(lower, 'ipv4');
  if (family !== 6) return true;
  if (SPECIAL.check(lower, 'ipv6')) return true;
  const carried = embeddedIpv4(lower);
  return carried !== undefined && SPECIAL.check(carried, 'ipv4');
};

/** Whether a delivery to `host` (as checked by checkWebhookUrl) may connect to `address`, one the name resolved to. */
export const isWebhookAddressAllowed = (host: string, address: string, policy: WebhookTargetPolicy): boolean => {
  const lower = address.toLowerCase();
  if (policy.allowedHosts.includes(lower)) return true;
  // A listed name may resolve where the operator's DNS says, but not to loopback, link-local or
  // metadata addresses (unless it is "localhost" itself, which the operator listed by name).
  return policy.allowedHosts.includes(host) && (!isSpecialAddress(lower) || host === 'localhost');
};
