import cliProgress from 'cli-progress';

// A progress bar on stderr for long runs (`agent issue --count`), only where a person watches: a
// TTY, and not --json. Elsewhere (pipes, CI logs, scripts) it is silent.

export interface Progress {
  advance(): void;
  stop(): void;
}

const SILENT: Progress = { advance: () => undefined, stop: () => undefined };

export const startProgress = (total: number, label: string, options: { isJson: boolean }): Progress => {
  if (options.isJson || !process.stderr.isTTY || total < 2) return SILENT;
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: `${label} {bar} {value}/{total} | {rate}/s | ETA {eta_formatted}`,
    hideCursor: true,
    etaBuffer: 200,
    fps: 10,
  }, cliProgress.Presets.shades_classic);
  const startedAt = performance.now();
  let done = 0;
  bar.start(total, 0, { rate: '-' });
  return {
    advance() {
      done++;
      const seconds = (performance.now() - startedAt) / 1000;
      bar.update(done, { rate: seconds > 0 ? Math.round(done / seconds) : '-' });
    },
    stop() {
      bar.stop();
    },
  };
};
