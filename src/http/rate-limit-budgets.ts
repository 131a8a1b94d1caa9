// Which budget a request draws from (TRUSTGATE_RATE_LIMITS, docs/limits.md). A budget is a tenant's
// allowance for one route pattern — `POST /caCertificates`, not one CA's URL — as MindConnect
// publishes its limits per endpoint; the tenant comes from the verified token, never from the
// address (many tenants share a proxy's address, one tenant's scripts run on many).

/** At most `max` calls per `windowMs`, counted in fixed windows (config's RateWindow; http does not import config). */
export interface RateWindow {
  readonly max: number;
  readonly windowMs: number;
}

/** The REST part of TRUSTGATE_RATE_LIMITS (config's RateLimitPolicy['rest']), structurally. */
export interface RestRateLimits {
  readonly routes: readonly { readonly method: string; readonly route: string; readonly windows: readonly RateWindow[] }[];
  readonly otherRoutes: readonly RateWindow[];
}

/** One route's budget: its name in messages, logs, metrics and the counter keys, and its windows. */
export interface RateBudget {
  /** `POST /caCertificates`: method and route pattern under the API base path. */
  readonly name: string;
  /** Shortest window first: a call refused by the short window does not use up the long one. */
  readonly windows: readonly RateWindow[];
}

// Routes that are another route under a second path draw from that route's budget: the public
// how-to's shorthand `GET /v3/<id>/registrationCode` is `GET /v3/caCertificates/<id>/registrationCode`
// (SPEC, REST API), so the shorthand cannot double the registration-code allowance.
const SAME_BUDGET: Readonly<Record<string, string>> = {
  'GET /:id/registrationCode': 'GET /caCertificates/:id/registrationCode',
};

const byShortestWindow = (windows: readonly RateWindow[]): readonly RateWindow[] =>
  [...windows].sort((a, b) => a.windowMs - b.windowMs);

/** `2 per 30 s`: how a window is shown in the 429 message, the log and docs. */
export const describeWindow = ({ max, windowMs }: RateWindow): string => `${max} per ${windowMs / 1000} s`;

export interface RateBudgets {
  /** The budget of a matched route (`method` as sent, `url` the full route pattern). */
  budgetOf(method: string, url: string): RateBudget;
  /** Policy routes that name no registered route: a typo in a policy file would otherwise limit nothing. */
  unknownRoutes(registered: ReadonlySet<string>): string[];
}

/**
 * The budgets of a policy's REST part. `basePath` is stripped from route patterns: policies name
 * routes as the API documents them (`/caCertificates/:id/verify`); routes outside it (none today
 * that need a token) keep their full path.
 */
export const rateBudgets = (rest: RestRateLimits, basePath: string): RateBudgets => {
  const listed = new Map(rest.routes.map((rule) => [`${rule.method} ${rule.route}`, byShortestWindow(rule.windows)]));
  const others = byShortestWindow(rest.otherRoutes);
  const cache = new Map<string, RateBudget>();
  return {
    budgetOf(method, url) {
      const cacheKey = `${method} ${url}`;
      let budget = cache.get(cacheKey);
      if (budget) return budget;
      const route = url.startsWith(`${basePath}/`) ? url.slice(basePath.length) : url;
      // Fastify answers HEAD with the GET route: one budget for both.
      const name = `${method === 'HEAD' ? 'GET' : method} ${route}`;
      const budgetName = SAME_BUDGET[name] ?? name;
      budget = { name: budgetName, windows: listed.get(budgetName) ?? others };
      cache.set(cacheKey, budget);
      return budget;
    },
    unknownRoutes(registered) {
      return [...listed.keys()].filter((name) => !registered.has(name));
    },
  };
};
