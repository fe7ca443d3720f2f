// Runs in a router namespace: answers every UDP datagram on port 7 (so a client can tell when
// the VIP answers again).
import dgram from 'node:dgram';
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(7, () => console.log('ready'));
