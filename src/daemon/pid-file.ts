// Pid files, written by root into directories a careful operator keeps root's (/run), and a
// careless one may not (-p /tmp/vigil.pid). Opened without following a symbolic link and
// without truncating, then checked on the open descriptor: a link planted at the path, or a
// hard link to /etc/shadow, must not make root overwrite another file. Only a regular file with
// one name, owned by us, is then truncated and written.

import { closeSync, constants, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';

export function writePidFile(path: string, pid: number = process.pid): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new Error(`pid file ${path} is a symbolic link; refusing to write through it (remove it)`);
    throw new Error(`cannot write pid file ${path}: ${code ?? (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    const euid = process.geteuid?.() ?? 0;
    if (!st.isFile()) throw new Error(`pid file ${path} is not a regular file; refusing to write to it`);
    if (st.nlink !== 1) throw new Error(`pid file ${path} has ${st.nlink} names (a hard link to another file?); refusing to write to it`);
    if (st.uid !== euid) throw new Error(`pid file ${path} is owned by uid ${st.uid}, not ${euid}; refusing to write to it (remove it)`);
    ftruncateSync(fd, 0);
    writeSync(fd, `${pid}\n`);
  } finally {
    closeSync(fd);
  }
}
