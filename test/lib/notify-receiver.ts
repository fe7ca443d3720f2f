// A systemd stand-in for the notify protocol: a real AF_UNIX datagram socket (python3, since
// Node has none) that prints each datagram with the sender's pid from SCM_CREDENTIALS, one
// JSON line each, so tests see what was sent and by whom (systemd's NotifyAccess=main checks
// the same pid).
import { spawn, type ChildProcess } from 'node:child_process';

const PY = `
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
path = sys.argv[1]
s.bind('\\0' + path[1:] if path.startswith('@') else path)
print(json.dumps({"ready": True}), flush=True)
while True:
    msg, anc, _flags, _addr = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", data[:12])[0]
    print(json.dumps({"pid": pid, "msg": msg.decode()}), flush=True)
`;

export interface Notification {
  pid: number;
  msg: string;
}

export interface NotifyReceiver {
  child: ChildProcess;
  messages: Notification[];
  /** Resolves with the first message (from index `from` on) that matches. */
  waitFor(pattern: RegExp, ms?: number, from?: number): Promise<Notification>;
  close(): void;
}

export async function notifyReceiver(path: string): Promise<NotifyReceiver> {
  const child = spawn('python3', ['-c', PY, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: Notification[] = [];
  const waiters = new Set<() => void>();
  let buf = '';
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const rec = JSON.parse(buf.slice(0, nl)) as Notification & { ready?: boolean };
      buf = buf.slice(nl + 1);
      if (rec.ready) ready();
      else messages.push(rec);
    }
    for (const w of [...waiters]) w();
  });
  await isReady;
  return {
    child,
    messages,
    waitFor: (pattern, ms = 15_000, from = 0) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = messages.slice(from).find((x) => pattern.test(x.msg));
          if (!m) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(m);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${ms} ms waiting for ${pattern}; got ${JSON.stringify(messages)}`));
        }, ms);
        waiters.add(check);
        check();
      }),
    close: () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    },
  };
}
