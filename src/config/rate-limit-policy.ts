import { readFileSync } from 'node:fs';

// TRUSTGATE_RATE_LIMITS (SPEC "Audit trail and limits", issue 16): `mindconnect` (the default:
// MindConnect's published REST table and the MQTT connect limits below), `off` (no REST or MQTT
// rate limit and no ban; the broker's quotas stay), or the path of a JSON file of this shape.

/** At most `max` calls per `windowMs` (a fixed window, as @fastify/rate-limit counts). */
export interface RateWindow {
  readonly max: number;
  readonly windowMs: number;
}

/** One REST route's windows: `route` is the Fastify route pattern under the base path
 *  (`/caCertificates/:id/verify`); every window must allow the call. */
export interface RestRateLimitRule {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly route: string;
  readonly windows: readonly RateWindow[];
}

/** A token bucket: `burst` attempts at once, refilled at `perSecond`. */
export interface ConnectRate {
  readonly perSecond: number;
  readonly burst: number;
}

export interface RateLimitPolicy {
  /** `mindconnect`, `off`, or the file's path: shown in the start log line. */
  readonly source: string;
  /** Undefined = no REST rate limits. Counted per tenant and route. */
  readonly rest: {
    readonly routes: readonly RestRateLimitRule[];
    /** Every route not in `routes` (each counted on its own). */
    readonly otherRoutes: readonly RateWindow[];
  } | undefined;
  /** Undefined = no MQTT connect limits and no bans. */
  readonly mqtt: {
    readonly connectPerClientId: ConnectRate;
    readonly connectPerSourceAddress: ConnectRate;
    /** `refusals` refused attempts (rate or trust) of one client id or address within `windowMs`
     *  earn a ban of `banMs`, during which its CONNECTs are refused before any other check. */
    readonly ban: { readonly refusals: number; readonly windowMs: number; readonly banMs: number };
  } | undefined;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

// MindConnect MQTT's published limits (SPEC); "others generous".
export const MINDCONNECT_RATE_LIMITS: RateLimitPolicy = Object.freeze<RateLimitPolicy>({
  source: 'mindconnect',
  rest: {
    routes: [
      { method: 'POST', route: '/caCertificates', windows: [{ max: 2, windowMs: 30 * SECOND }, { max: 10, windowMs: HOUR }] },
      { method: 'POST', route: '/caCertificates/:id/verify', windows: [{ max: 2, windowMs: 30 * SECOND }, { max: 10, windowMs: HOUR }] },
      { method: 'GET', route: '/caCertificates/:id/registrationCode', windows: [{ max: 2, windowMs: 30 * SECOND }, { max: 10, windowMs: HOUR }] },
      { method: 'POST', route: '/agentCertificates', windows: [{ max: 10, windowMs: 30 * SECOND }] },
      { method: 'GET', route: '/agentCertificates', windows: [{ max: 30, windowMs: 30 * SECOND }, { max: 40, windowMs: MINUTE }] },
      { method: 'DELETE', route: '/agentCertificates/:id', windows: [{ max: 5, windowMs: 30 * SECOND }, { max: 20, windowMs: MINUTE }] },
      // Commanding (issue 19): routes outside the MindConnect MQTT base path keep their full path.
      // Generous: a job reaches at most 20 agents, so 60 jobs per 30 s is 1,200 commands.
      { method: 'POST', route: '/api/commanding/v3/deliveryJobs', windows: [{ max: 60, windowMs: 30 * SECOND }, { max: 1000, windowMs: HOUR }] },
    ],
    otherRoutes: [{ max: 300, windowMs: 30 * SECOND }],
  },
  mqtt: {
    connectPerClientId: { perSecond: 1, burst: 3 },
    // One address may front a whole site (NAT): its burst lets 1,000 agents back in at once after an
    // outage; the rate bounds what one looping source costs (about 0.15 core at ~1.5 ms a handshake).
    connectPerSourceAddress: { perSecond: 100, burst: 1000 },
    ban: { refusals: 20, windowMs: MINUTE, banMs: 5 * MINUTE },
  },
});

export const NO_RATE_LIMITS: RateLimitPolicy = Object.freeze<RateLimitPolicy>({ source: 'off', rest: undefined, mqtt: undefined });

/** Parses the setting; a file is read (once, at start) and checked here, so a bad one stops the start. */
export const parseRateLimitPolicy = (raw: string): RateLimitPolicy => {
  const value = raw.trim();
  if (value === '' || value === 'mindconnect') return MINDCONNECT_RATE_LIMITS;
  if (value === 'off') return NO_RATE_LIMITS;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(value, 'utf8'));
  } catch (error) {
    throw new Error(`must be mindconnect, off or a readable JSON file (${value}: ${(error as Error).message})`);
  }
  return { ...checkPolicyFile(parsed, value), source: value };
};

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const positive = (value: unknown, where: string): number => {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new Error(`${where} must be a positive number`);
  return value;
};
const windows = (value: unknown, where: string): RateWindow[] => {
  if (!Array.isArray(value) || value.length === 0) throw new Error(`${where} must be a non-empty array of {max, windowMs}`);
  return value.map((w, i) => {
    if (!isObject(w)) throw new Error(`${where}[${i}] must be {max, windowMs}`);
    return { max: Math.floor(positive(w.max, `${where}[${i}].max`)), windowMs: Math.floor(positive(w.windowMs, `${where}[${i}].windowMs`)) };
  });
};
const connectRate = (value: unknown, where: string): ConnectRate => {
  if (!isObject(value)) throw new Error(`${where} must be {perSecond, burst}`);
  return { perSecond: positive(value.perSecond, `${where}.perSecond`), burst: Math.floor(positive(value.burst, `${where}.burst`)) };
};

/** A file holds `rest` and `mqtt`, each an object like the defaults or null (= off for that part). */
const checkPolicyFile = (file: unknown, path: string): Omit<RateLimitPolicy, 'source'> => {
  if (!isObject(file)) throw new Error(`${path} must hold a JSON object with "rest" and "mqtt"`);
  const unknownKeys = Object.keys(file).filter((key) => key !== 'rest' && key !== 'mqtt');
  if (unknownKeys.length > 0) throw new Error(`${path} has unknown keys: ${unknownKeys.join(', ')} (allowed: rest, mqtt)`);
  let rest: RateLimitPolicy['rest'];
  if (file.rest !== null && file.rest !== undefined) {
    if (!isObject(file.rest)) throw new Error(`${path}: rest must be an object or null`);
    const routes = file.rest.routes ?? [];
    if (!Array.isArray(routes)) throw new Error(`${path}: rest.routes must be an array`);
    rest = {
      routes: routes.map((rule, i) => {
        const where = `${path}: rest.routes[${i}]`;
        if (!isObject(rule) || typeof rule.route !== 'string' || !rule.route.startsWith('/')) throw new Error(`${where} must be {method, route: "/…", windows}`);
        if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(String(rule.method))) throw new Error(`${where}.method must be GET, POST, PUT, PATCH or DELETE`);
        return { method: rule.method as RestRateLimitRule['method'], route: rule.route, windows: windows(rule.windows, `${where}.windows`) };
      }),
      otherRoutes: windows(file.rest.otherRoutes ?? MINDCONNECT_RATE_LIMITS.rest!.otherRoutes, `${path}: rest.otherRoutes`),
    };
  }
  let mqtt: RateLimitPolicy['mqtt'];
  if (file.mqtt !== null && file.mqtt !== undefined) {
    if (!isObject(file.mqtt)) throw new Error(`${path}: mqtt must be an object or null`);
    const defaults = MINDCONNECT_RATE_LIMITS.mqtt!;
    const ban = file.mqtt.ban ?? defaults.ban;
    if (!isObject(ban)) throw new Error(`${path}: mqtt.ban must be {refusals, windowMs, banMs}`);
    mqtt = {
      connectPerClientId: connectRate(file.mqtt.connectPerClientId ?? defaults.connectPerClientId, `${path}: mqtt.connectPerClientId`),
      connectPerSourceAddress: connectRate(file.mqtt.connectPerSourceAddress ?? defaults.connectPerSourceAddress, `${path}: mqtt.connectPerSourceAddress`),
      ban: {
        refusals: Math.floor(positive(ban.refusals, `${path}: mqtt.ban.refusals`)),
        windowMs: Math.floor(positive(ban.windowMs, `${path}: mqtt.ban.windowMs`)),
        banMs: Math.floor(positive(ban.banMs, `${path}: mqtt.ban.banMs`)),
      },
    };
  }
  return { rest, mqtt };
};
