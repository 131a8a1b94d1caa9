import { configSchema, MAX_NODE_ID_LENGTH, type Config, type Setting } from './config-schema.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
  /** One line per problem (docs/config.md): the CLI prints each on a line of its own. */
  readonly problems: readonly string[];

  constructor(message: string, problems: readonly string[] = [message]) {
    super(message);
    this.problems = Object.freeze([...problems]);
  }
}

// Reads every setting from the environment, reports all problems at once, and freezes the result.
export const loadConfig = (env: Readonly<Record<string, string | undefined>> = process.env): Config => {
  const problems: string[] = [];
  const config: Record<string, Record<string, unknown>> = {};
  for (const [group, settings] of Object.entries(configSchema)) {
    const values: Record<string, unknown> = {};
    for (const [key, definition] of Object.entries(settings as Record<string, Setting<unknown>>)) {
      const raw = env[definition.env];
      if (raw === undefined) {
        values[key] = definition.default;
        continue;
      }
      try {
        values[key] = definition.parse(raw);
      } catch (error) {
        problems.push(`${definition.env}=${JSON.stringify(raw)} ${(error as Error).message}`);
      }
    }
    config[group] = Object.freeze(values);
  }
  const auth = config.auth as Partial<Config['auth']> | undefined;
  if (auth?.jwksUrl && (!auth.jwtIssuer || !auth.jwtAudience)) {
    problems.push('TRUSTGATE_JWKS_URL needs TRUSTGATE_JWT_ISSUER and TRUSTGATE_JWT_AUDIENCE, so tokens meant for other services are refused');
  }
  const tls = config.tls as Partial<Config['tls']> | undefined;
  if (tls && Boolean(tls.certFile) !== Boolean(tls.keyFile)) {
    problems.push('TRUSTGATE_TLS_CERT_FILE and TRUSTGATE_TLS_KEY_FILE must be set together');
  }
  const databaseUrl = (config.storage as Partial<Config['storage']> | undefined)?.databaseUrl;
  const redis = (config.cluster as Partial<Config['cluster']> | undefined)?.redisUrl;
  if (redis && !(databaseUrl && /^postgres(ql)?:/.test(databaseUrl))) {
    problems.push('TRUSTGATE_REDIS_URL (a cluster) needs TRUSTGATE_DATABASE_URL=postgres://…: the nodes must share one database, and a SQLite file cannot be shared');
  }
  // Workers are cluster nodes (decision 0031): sessions, messages and trust events between them go
  // through Redis and PostgreSQL, exactly as between hosts; without those a CA deleted through one
  // worker would not close the sessions on the others.
  const cluster = config.cluster as Partial<Config['cluster']> | undefined;
  if (cluster?.workers !== undefined && cluster.workers > 1) {
    if (!redis) {
      problems.push(`TRUSTGATE_WORKERS=${cluster.workers} (several broker processes) needs TRUSTGATE_REDIS_URL and TRUSTGATE_DATABASE_URL=postgres://…: each worker is a cluster node, and trust changes, sessions and messages reach the other workers only through Redis and PostgreSQL`);
    }
    const suffix = `-w${cluster.workers - 1}`;
    if (cluster.nodeId !== undefined && cluster.nodeId.length + suffix.length > MAX_NODE_ID_LENGTH) {
      problems.push(`TRUSTGATE_NODE_ID=${JSON.stringify(cluster.nodeId)} is too long for ${cluster.workers} workers: each is named <TRUSTGATE_NODE_ID>${suffix.replace(/\d+$/, '<i>')}, at most ${MAX_NODE_ID_LENGTH} characters; use at most ${MAX_NODE_ID_LENGTH - suffix.length}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`, problems);
  return Object.freeze(config) as unknown as Config;
};
