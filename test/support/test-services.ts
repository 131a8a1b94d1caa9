import { connect } from 'node:net';
import { describe, test, type SuiteContext, type TestContext, type TestOptions } from 'node:test';

// The services some tests use as real peers: PostgreSQL (the second dialect of every store and API
// test, and the cluster's database) and Redis (the cluster bus). On a machine without them (a
// contributor's laptop) those tests are skipped, and the run says so in one line at its end
// (test-services-setup.ts); with TRUSTGATE_TEST_REQUIRE_SERVICES=1 (.ci/run sets it) their absence
// fails the run instead, so CI never skips them silently. Decision 0020.

export type TestService = 'postgres' | 'redis';

export const testServiceUrls: Readonly<Record<TestService, string>> = {
  postgres: process.env.TRUSTGATE_TEST_POSTGRES_URL ?? 'postgres://root@127.0.0.1:5432/test',
  redis: process.env.TRUSTGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
};

const defaultPorts: Readonly<Record<TestService, number>> = { postgres: 5432, redis: 6379 };
const variables: Readonly<Record<TestService, string>> = { postgres: 'TRUSTGATE_TEST_POSTGRES_URL', redis: 'TRUSTGATE_TEST_REDIS_URL' };
const labels: Readonly<Record<TestService, string>> = { postgres: 'PostgreSQL', redis: 'Redis' };

/** TRUSTGATE_TEST_REQUIRE_SERVICES=1: a service that cannot be reached fails the run instead of skipping its tests. */
export const servicesRequired = process.env.TRUSTGATE_TEST_REQUIRE_SERVICES === '1';

/** Whether something accepts TCP connections at the URL's host and port (within 2 s). Only that: a server that answers but refuses the tests still fails them. */
const reachable = (service: TestService): Promise<boolean> => {
  let url: URL;
  try {
    url = new URL(testServiceUrls[service]);
  } catch {
    return Promise.resolve(true); // a malformed URL is a mistake to report, not a missing service: let the tests fail on it
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = Number(url.port || defaultPorts[service]);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
};

/** The services that cannot be reached, checked once per process. */
export const probeTestServices = async (): Promise<TestService[]> => {
  const services: TestService[] = ['postgres', 'redis'];
  const answers = await Promise.all(services.map(reachable));
  return services.filter((_, index) => !answers[index]);
};

/** `PostgreSQL (postgres://…)`: for messages. */
export const describeService = (service: TestService): string => `${labels[service]} (${testServiceUrls[service]})`;

/** How to run the skipped tests: the one place that says it. */
export const howToEnable = (missing: readonly TestService[]): string =>
  `start ${missing.map((service) => labels[service]).join(' and ')} and point ${missing.map((service) => variables[service]).join(' / ')} at ${missing.length > 1 ? 'them' : 'it'}, or run .ci/run`;

const missing: readonly TestService[] = await probeTestServices();

/** Why tests that need `services` cannot run here (some are not reachable), or false when they can. */
export const unavailable = (...services: TestService[]): string | false => {
  const absent = services.filter((service) => missing.includes(service));
  if (absent.length === 0) return false;
  return `${absent.map(describeService).join(' and ')} not reachable (${absent.map((service) => variables[service]).join(', ')}; or .ci/run)`;
};

type TestFn = (t: TestContext) => void | Promise<void>;

/**
 * Stands for tests that cannot run here: one skipped test, or, with TRUSTGATE_TEST_REQUIRE_SERVICES=1,
 * one failing test saying what is missing (instead of each test failing on ECONNREFUSED).
 */
const standIn = (name: string, reason: string): void => {
  if (servicesRequired) test(name, () => { throw new Error(`TRUSTGATE_TEST_REQUIRE_SERVICES=1 but ${reason}`); });
  else test(name, { skip: reason }, () => undefined);
};

/** `test`, standing in (standIn) when a service is missing. */
export const testNeeding = (...services: TestService[]) => (name: string, optionsOrFn: TestOptions | TestFn, maybeFn?: TestFn): void => {
  const reason = unavailable(...services);
  if (reason) return standIn(name, reason);
  if (typeof optionsOrFn === 'function') test(name, optionsOrFn);
  else test(name, optionsOrFn, maybeFn);
};

type SuiteFn = (suite: SuiteContext) => void | Promise<void>;

/**
 * `describe`, or, when a service is missing, one test standing for the whole suite (standIn: a
 * skipped suite would not be counted as skipped in the run's summary; a skipped test is).
 */
export const describeNeeding = (...services: TestService[]) => (name: string, optionsOrFn: TestOptions | SuiteFn, maybeFn?: SuiteFn): void => {
  const reason = unavailable(...services);
  if (reason) return standIn(name, reason);
  if (typeof optionsOrFn === 'function') describe(name, optionsOrFn);
  else describe(name, optionsOrFn, maybeFn);
};

/** Whether tests needing `services` run here; when not, registers one test named `name` standing in for them. */
export const runsHere = (name: string, ...services: TestService[]): boolean => {
  const reason = unavailable(...services);
  if (reason) standIn(name, reason);
  return !reason;
};
