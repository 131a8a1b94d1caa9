// A failure the CLI reports as one line with a distinct exit code (sysexits.h where one fits).
export const EXIT = {
  usage: 64,
  dataError: 65,
  unavailable: 69,
  software: 70,
  config: 78,
} as const;

export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
