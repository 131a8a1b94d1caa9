// A listener that cannot open its port: an operator's fix (another port, another address, stop the
// other program), never a bug. Reported as one line naming the variable to change; the CLI maps
// the cause to its exit code (docs/cli.md).

export type ListenFailure = 'inUse' | 'noPermission' | 'noAddress';

export interface Listener {
  /** What listens, for the message: "the REST API", "the MQTT broker". */
  readonly what: string;
  readonly hostVariable: string;
  readonly portVariable: string;
  readonly host: string;
  readonly port: number;
}

export class ListenError extends Error {
  override name = 'ListenError';
  readonly failure: ListenFailure;
  /** The variable to change: the port's, or the host's for an address this machine does not have. */
  readonly variable: string;

  constructor(message: string, failure: ListenFailure, variable: string, options?: { cause?: unknown }) {
    super(message, options);
    this.failure = failure;
    this.variable = variable;
  }
}

const describe = ({ what, hostVariable, portVariable, host, port }: Listener, code: string | undefined): ListenError | undefined => {
  const at = `${what} cannot listen on ${host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new ListenError(`${at}: port ${port} is already in use (another trustgate, or another program). Stop it, or set ${portVariable} to a free port (0 = any free port)`, 'inUse', portVariable);
    case 'EACCES':
      return new ListenError(`${at}: permission denied (ports below 1024 need privileges). Set ${portVariable} to a port above 1023`, 'noPermission', portVariable);
    case 'EADDRNOTAVAIL':
      return new ListenError(`${at}: this machine has no address ${host}. Set ${hostVariable} to one of its addresses, or 0.0.0.0 for all`, 'noAddress', hostVariable);
    default:
      return undefined;
  }
};

/** Runs `listen`; a port in use, a privileged port or a foreign address becomes a ListenError. */
export const listenOrExplain = async <T>(listener: Listener, listen: () => Promise<T>): Promise<T> => {
  try {
    return await listen();
  } catch (error) {
    throw describe(listener, (error as NodeJS.ErrnoException).code) ?? error;
  }
};
