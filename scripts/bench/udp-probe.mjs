// Runs in the client namespace: sends a datagram to VIP:7 every 10 ms and prints the wall-clock
// time (ms) of every reply, one per line.
import dgram from 'node:dgram';
const vip = process.argv[2];
const s = dgram.createSocket('udp4');
s.on('message', () => console.log(Date.now()));
s.on('error', () => undefined);
setInterval(() => s.send('p', 7, vip, () => undefined), 10);
