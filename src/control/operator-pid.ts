// The -p the operator typed, recorded by the command line before it launches the daemon. The
// CLI finds the control socket from that -p, but under the supervisor the engine is a forked
// child whose own pid file is -r's: it derives the socket from the operator's -p (the child
// parses the same command line) instead. Unset (tests, embedding): the daemon's own pid file.
// A module of its own so the command line records it without loading the control socket's code.

let operatorPidFile: { pidFile: string | undefined } | undefined;

export function setOperatorPidFile(pidFile: string | undefined): void {
  operatorPidFile = { pidFile };
}

/** The recorded -p: `{ pidFile }` once the command line set it (pidFile undefined: no -p). */
export function operatorPid(): { pidFile: string | undefined } | undefined {
  return operatorPidFile;
}
