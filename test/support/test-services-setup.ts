import { describeService, howToEnable, probeTestServices, servicesRequired, type TestService } from './test-services.ts';

// `npm test`'s global setup (--test-global-setup): checks once for PostgreSQL and Redis. Missing
// ones fail the run at once when TRUSTGATE_TEST_REQUIRE_SERVICES=1 (CI), and are otherwise named in
// one line after the run's summary, with how to run the tests that were skipped (decision 0020).

let missing: TestService[] = [];

export const globalSetup = async (): Promise<void> => {
  missing = await probeTestServices();
  if (missing.length > 0 && servicesRequired) {
    throw new Error(`TRUSTGATE_TEST_REQUIRE_SERVICES=1 but ${missing.map(describeService).join(' and ')} cannot be reached: ${howToEnable(missing)}`);
  }
};

export const globalTeardown = async (): Promise<void> => {
  if (missing.length === 0) return;
  const what = missing.length > 1 ? 'the PostgreSQL-dialect, Redis and cluster tests'
    : missing[0] === 'postgres' ? 'the PostgreSQL-dialect and cluster tests' : 'the Redis and cluster tests';
  process.stdout.write(`skipped ${what}: ${missing.map(describeService).join(' and ')} not reachable; to run them, ${howToEnable(missing)}\n`);
};
