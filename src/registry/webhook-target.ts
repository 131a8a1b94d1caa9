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
// broadcast (RFC 6890), also inside IPv6: IPv4-mapped ::ffff:0:0/96 in any spelling (::ffff:7f00:1
// is 127.0.0.1), IPv4-compatible ::/96 (deprecated, RFC 4291 2.5.5.1) refused whole, and NAT64
// (RFC 6052, RFC 8215) and 6to4 (RFC 3056) judged by the IPv4 address they carry:
// 64:ff9b::a9fe:a9fe reaches 169.254.169.254 through a NAT64 gateway.

const ipv4Octets = (address: string): number[] | undefined => {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  const octets = match?.slice(1).map(Number);
  return octets?.every((octet) => octet <= 255) ? octets : undefined;
};

const isSpecialIpv4 = ([a, b]: readonly number[]): boolean => a === 0 || a === 127 || (a === 169 && b === 254) || a! >= 224;

/** The eight 16-bit groups of an IPv6 address (a dotted IPv4 tail allowed); undefined when it is none. */
const ipv6Groups = (address: string): number[] | undefined => {
  if (!/^[0-9a-f:.]+$/.test(address) || !address.includes(':')) return undefined;
  let text = address;
  const dotted = /:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (dotted) {
    const octets = ipv4Octets(dotted[1]!);
    if (!octets) return undefined;
    text = `${address.slice(0, dotted.index + 1)}${((octets[0]! << 8) | octets[1]!).toString(16)}:${((octets[2]! << 8) | octets[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const first = halves[0] === '' ? [] : halves[0]!.split(':');
  const last = halves.length === 1 || halves[1] === '' ? [] : halves[1]!.split(':');
  const missing = 8 - first.length - last.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...first, ...Array<string>(halves.length === 1 ? 0 : missing).fill('0'), ...last];
  return groups.every((group) => /^[0-9a-f]{1,4}$/.test(group)) ? groups.map((group) => Number.parseInt(group, 16)) : undefined;
};

const octetsOfGroups = (high: number, low: number): number[] => [high >> 8, high & 255, low >> 8, low & 255];

/** Loopback, link-local (cloud metadata), unspecified, multicast, reserved or broadcast, also when
 *  mapped into or carried by IPv6: never reached through a name, only when the operator listed the
 *  address itself. Anything that is not an IP address counts as special (fails closed). */
export const isSpecialAddress = (address: string): boolean => {
  const lower = address.toLowerCase();
  const v4 = ipv4Octets(lower);
  if (v4) return isSpecialIpv4(v4);
  const g = ipv6Groups(lower);
  if (!g) return true;
  const zeros = (count: number): boolean => g.slice(0, count).every((group) => group === 0);
  if (zeros(6)) return true; // ::, ::1, IPv4-compatible
  if (zeros(5) && g[5] === 0xffff) return isSpecialIpv4(octetsOfGroups(g[6]!, g[7]!)); // IPv4-mapped
  if ((g[0]! & 0xffc0) === 0xfe80 || (g[0]! & 0xff00) === 0xff00) return true; // link-local, multicast
  if (g[0] === 0x64 && g[1] === 0xff9b) return isSpecialIpv4(octetsOfGroups(g[6]!, g[7]!)); // NAT64 64:ff9b::/96, 64:ff9b:1::/48
  if (g[0] === 0x2002) return isSpecialIpv4(octetsOfGroups(g[1]!, g[2]!)); // 6to4
  return false;
};

/** Whether a delivery to `host` (as checked by checkWebhookUrl) may connect to `address`, one the name resolved to. */
export const isWebhookAddressAllowed = (host: string, address: string, policy: WebhookTargetPolicy): boolean => {
  const lower = address.toLowerCase();
  if (policy.allowedHosts.includes(lower)) return true;
  // A listed name may resolve where the operator's DNS says, but not to loopback, link-local or
  // metadata addresses (unless it is "localhost" itself, which the operator listed by name).
  return policy.allowedHosts.includes(host) && (!isSpecialAddress(lower) || host === 'localhost');
};
