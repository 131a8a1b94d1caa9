// One load-generator process of the benchmark (forked by bench/lib/worker-pool.ts): connects
// agents, holds them, publishes, subscribes as the tenant application, or calls the REST API, and
// reports to its parent. It prepares first (TLS contexts, connections), answers `ready`, and starts
// the measured part on `go`, so that all processes start together. Every wait is bounded; the
// process exits when its parent goes away. One job at a time, any number in turn.
import type { ToWorker } from './lib/jobs.ts';
import { DISCONNECT } from './lib/mqtt-wire.ts';
import { runConnect } from './load/connect-job.ts';
import { hooks, send } from './load/control.ts';
import { openSockets } from './load/mqtt-client.ts';
import { runPublish } from './load/publish-job.ts';
import { runReconnectLoop } from './load/reconnect-loop-job.ts';
import { runRest } from './load/rest-job.ts';
import { runSubscribe } from './load/subscribe-job.ts';

process.on('disconnect', () => process.exit(0));

process.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'job': {
      const { job } = message;
      const run = job.kind === 'connect' ? runConnect(job)
        : job.kind === 'reconnect-loop' ? runReconnectLoop(job)
        : job.kind === 'subscribe' ? runSubscribe(job)
          : job.kind === 'publish' ? runPublish(job)
            : runRest(job);
      run.catch((error: unknown) => {
        send({ type: 'error', message: (error as Error).stack ?? String(error) });
      });
      break;
    }
    case 'go':
      hooks.go();
      break;
    case 'credit':
      hooks.credit(message.received);
      break;
    case 'status':
      send({ type: 'status', open: openSockets.size });
      break;
    case 'expect':
      hooks.expect(message.total);
      break;
    case 'stop':
      hooks.stop();
      break;
    case 'release': {
      const closing = [...openSockets].map((socket) => new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.end(DISCONNECT);
        setTimeout(() => socket.destroy(), 5_000).unref();
      }));
      void Promise.all(closing).then(() => send({ type: 'released' }));
      break;
    }
  }
});
