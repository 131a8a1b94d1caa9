// What the benchmark's parent process asks of its load-generator processes (bench/load-worker.ts),
// and what they answer. Everything crosses a fork() IPC channel with structured-clone serialization.

/** A broker as a client sees it. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
  /** TLS server name: the brokers' certificates name localhost. */
  readonly servername: string;
  /** Root CAs the client trusts: trustgate's broker root and the bench CA that issued Mosquitto's certificate. */
  readonly caPem: readonly string[];
  /** TLS key-exchange groups to offer, e.g. 'X25519' (undefined = Node's default list). */
  readonly ecdhCurve?: string | undefined;
}

export interface AgentIdentity {
  readonly clientId: string;
  readonly certificatePem: string;
  /** Where it publishes: tc/<tenant>/<clientId>/o/... */
  readonly topic: string;
}

export interface ApplicationIdentity {
  readonly clientId: string;
  /** Mosquitto: a client certificate of its own; trustgate: none (token instead). */
  readonly certificatePem?: string;
  readonly keyPem?: string;
  readonly username?: string;
  readonly password?: string;
}

export type Job =
  | { readonly kind: 'connect'; readonly endpoint: Endpoint; readonly keyPem: string; readonly agents: readonly AgentIdentity[];
      readonly concurrency: number; readonly hold: boolean; readonly timeoutMs: number; readonly budgetMs: number }
  /** The tenant application: receives until it has what the publishers report as sent (`expect`). */
  | { readonly kind: 'subscribe'; readonly endpoint: Endpoint; readonly application: ApplicationIdentity; readonly filter: string;
      readonly qos: 0 | 1; readonly maxMessages: number; readonly publisherProcesses: number; readonly progressStep: number; readonly budgetMs: number }
  /** Publishers: send for `seconds` or until `maxMessages`, whichever comes first; at `ratePerSecond`
   *  if given (an offered load, for latency), else as fast as the window allows (for throughput). */
  | { readonly kind: 'publish'; readonly endpoint: Endpoint; readonly keyPem: string; readonly agents: readonly AgentIdentity[];
      readonly qos: 0 | 1; readonly seconds: number; readonly maxMessages: number; readonly ratePerSecond: number | undefined;
      readonly window: number; readonly batchMessages: number;
      readonly processIndex: number; readonly payloadBytes: number; readonly budgetMs: number }
  /** Agents reconnecting in a loop (connect, CONNACK, DISCONNECT, again) for `seconds` or `maxAttempts`,
   *  round-robin over `agents` on `concurrency` lanes; at `ratePerSecond` attempts if given (paced), else
   *  as fast as the broker answers. Every attempt's outcome is counted, refusals included. */
  | { readonly kind: 'reconnect-loop'; readonly endpoint: Endpoint; readonly keyPem: string; readonly agents: readonly AgentIdentity[];
      readonly concurrency: number; readonly seconds: number; readonly maxAttempts: number; readonly ratePerSecond: number | undefined;
      readonly timeoutMs: number }
  | { readonly kind: 'rest-register'; readonly apiUrl: string; readonly tenants: readonly { tenant: string; token: string }[];
      readonly concurrency: number; readonly budgetMs: number }
  | { readonly kind: 'rest-list'; readonly apiUrl: string; readonly tokens: readonly string[]; readonly concurrency: number; readonly seconds: number };

export type ToWorker =
  | { readonly type: 'job'; readonly job: Job }
  | { readonly type: 'go' }
  /** Messages of this publisher process that the application has received so far. */
  | { readonly type: 'credit'; readonly received: number }
  | { readonly type: 'status' }
  /** The application: this many messages were sent in all; finish when they are in. */
  | { readonly type: 'expect'; readonly total: number }
  /** Publishers, REST readers and reconnect loops: stop now (a scenario's other load has ended). */
  | { readonly type: 'stop' }
  /** Close every connection (DISCONNECT) and answer `released`. */
  | { readonly type: 'release' };

export interface TlsInfo { readonly protocol: string | null; readonly cipher: string; readonly group: string | undefined }

export interface ConnectResult {
  readonly connects: number;
  readonly failures: number;
  readonly failureSamples: readonly string[];
  readonly latenciesMs: readonly number[];
  readonly startMs: number; // monotonic clock (process.hrtime), comparable across processes
  readonly endMs: number;
  readonly cpuMs: number;
  readonly tls: TlsInfo | undefined;
}

export interface ReconnectLoopResult {
  readonly attempts: number;
  /** Connect latency (TCP + TLS + CONNECT → CONNACK 0) of the accepted attempts. */
  readonly latenciesMs: readonly number[];
  /** Attempts by outcome: `CONNACK 0`, `CONNACK 5`, `closed after TLS, no CONNACK`, `TLS refused (ECONNRESET)`, `timeout`, … */
  readonly outcomes: Readonly<Record<string, number>>;
  readonly startMs: number;
  readonly endMs: number;
  readonly cpuMs: number;
}

export interface SubscribeResult {
  readonly received: number;
  readonly latenciesMs: Float64Array;
  readonly firstMs: number;
  readonly lastMs: number;
  readonly cpuMs: number;
  readonly duplicates: number;
}

export interface PublishResult {
  readonly sent: number;
  readonly acked: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly cpuMs: number;
}

export interface RestResult {
  readonly latenciesMs: Record<string, number[]>;
  /** Whole upload + registration code + verify flows (rest-register only). */
  readonly flowLatenciesMs: readonly number[];
  readonly failures: number;
  readonly failureSamples: readonly string[];
  readonly flows: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly cpuMs: number;
}

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly counts: readonly number[] }
  | { readonly type: 'done'; readonly result: ConnectResult | ReconnectLoopResult | SubscribeResult | PublishResult | RestResult }
  | { readonly type: 'status'; readonly open: number }
  | { readonly type: 'released' }
  | { readonly type: 'error'; readonly message: string };
