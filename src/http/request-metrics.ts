import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

/** The `route` label of a request no route matched: the raw URL would make the labels unbounded. */
export const UNMATCHED_ROUTE = 'unmatched';

// Seconds, from a 1 ms probe to a 10 s stall (a database outage answers within its pool timeout).
const DURATION_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// Counts every answered request by the route *pattern* Fastify matched
// (`/api/mindconnectmqtt/v3/caCertificates/:id`), its method and status, and times it. Labels are
// bounded: the routes are the registered ones plus `unmatched`, the methods those Node's HTTP
// parser accepts, the statuses three digits. No tenant, id or query string ever becomes a label.
export const countRequests = (app: FastifyInstance, registry: Registry): void => {
  const requests = new Counter({
    name: 'trustgate_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern (`unmatched` when no route matched) and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'trustgate_http_request_duration_seconds',
    help: 'Time from receiving an HTTP request to having sent its answer, by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: DURATION_BUCKETS_SECONDS,
    registers: [registry],
  });
  app.addHook('onResponse', (request, reply, done) => {
    // routeOptions.url is the pattern of the matched route; undefined for Fastify's 404 handler.
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    const method = request.method;
    requests.labels(method, route, String(reply.statusCode)).inc();
    durations.labels(method, route).observe(reply.elapsedTime / 1000);
    done();
  });
};
