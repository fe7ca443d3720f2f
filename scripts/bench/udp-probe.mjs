// Runs in the client namespace: sends a datagram to VIP:7 every 10 ms and prints the wall-clock
// time (ms) and the answering node's tag of every reply, one per line: "1712345678901 r2".
import dgram from 'node:dgram';
const vip = process.argv[2];
const s = dgram.createSocket('udp4');
s.on('message', (m) => console.log(`${Date.now()} ${m.toString()}`));
s.on('error', () => undefined);
setInterval(() => s.send('p', 7, vip, () => undefined), 10);
