// Datagram sockets Node cannot open by itself: libc's socket/setsockopt/bind/connect/send/sendto/
// close through koffi (already used for AF_PACKET in announce.ts), bound once for the process
// (or worker thread), and struct sockaddr_un. Used for AF_UNIX by sd_notify (src/control/
// systemd.ts) and the syslog writer (src/daemon/syslog.ts), and for UDP and ICMP sockets by the
// checkers (src/lvs/inet-dgram.ts).

import { endianness } from 'node:os';
import koffi from 'koffi';

export const AF_UNIX = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
const SUN_PATH_MAX = 108;

export interface Libc {
  socket: (domain: number, type: number, proto: number) => number;
  setsockopt: (fd: number, level: number, name: number, val: Buffer, len: number) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  connect: (fd: number, addr: Buffer, alen: number) => number;
  send: (fd: number, buf: Buffer, len: number, flags: number) => number;
  sendto: (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, alen: number) => number;
  close: (fd: number) => number;
}
let libc: Libc | undefined;

/** libc's calls, bound on first use. */
export function libcCalls(): Libc {
  if (!libc) {
    const lib = koffi.load('libc.so.6');
    libc = {
      socket: lib.func('int socket(int, int, int)') as Libc['socket'],
      setsockopt: lib.func('int setsockopt(int, int, int, const uint8_t *val, uint32_t)') as Libc['setsockopt'],
      bind: lib.func('int bind(int, const uint8_t *addr, uint32_t)') as Libc['bind'],
      connect: lib.func('int connect(int, const uint8_t *addr, uint32_t)') as Libc['connect'],
      send: lib.func('long send(int, const uint8_t *buf, size_t, int)') as Libc['send'],
      sendto: lib.func('long sendto(int, const uint8_t *buf, size_t, int, const uint8_t *addr, uint32_t)') as Libc['sendto'],
      close: lib.func('int close(int)') as Libc['close'],
    };
  }
  return libc;
}

/** struct sockaddr_un and its length for a path (NUL-terminated) or, with `abstract`, for an
 * abstract name (a leading NUL and exactly the name's bytes). Undefined when too long. */
export function sockaddrUnix(name: string, abstract = false): { addr: Buffer; len: number } | undefined {
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length + 1 > SUN_PATH_MAX) return undefined;
  const addr = Buffer.alloc(2 + SUN_PATH_MAX);
  if (endianness() === 'LE') addr.writeUInt16LE(AF_UNIX, 0);
  else addr.writeUInt16BE(AF_UNIX, 0);
  bytes.copy(addr, abstract ? 3 : 2);
  return { addr, len: 2 + bytes.length + 1 };
}
