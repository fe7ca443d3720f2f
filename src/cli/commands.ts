// The control subcommands, apart from their client (control.ts), so the command line can tell
// them from the daemon's own flags without loading the config reader the client uses.

export type ControlCommand = 'status' | 'events' | 'reload';

export const CONTROL_COMMANDS: readonly string[] = ['status', 'events', 'reload'];
