// Runs in a router namespace: answers every UDP datagram on port 7 with its own tag
// (argv[2], e.g. "r2"), so a client can tell when the VIP answers again, and from which node.
import { Buffer } from 'node:buffer';
import dgram from 'node:dgram';
const tag = Buffer.from(process.argv[2] ?? '?');
const s = dgram.createSocket('udp4');
s.on('message', (_m, r) => s.send(tag, r.port, r.address));
s.bind(7, () => console.log('ready'));
