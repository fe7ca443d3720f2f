// keepalived's name for the state a transition enters, as its notify scripts and alert mails
// say it: MASTER, BACKUP, FAULT, and STOP for `initialize` at shutdown (no other initialize is
// announced).

export type KeepalivedState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP';

export function keepalivedState(to: string, reason: string): KeepalivedState | undefined {
  switch (to) {
    case 'master':
      return 'MASTER';
    case 'backup':
      return 'BACKUP';
    case 'fault':
      return 'FAULT';
    case 'initialize':
      return reason === 'shutdown' ? 'STOP' : undefined;
    default:
      return undefined;
  }
}
