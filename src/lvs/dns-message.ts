// DNS_CHECK's wire format, pure: the query keepalived sends (check_dns.c dns_make_query) and the
// verdict on a datagram that comes back. No sockets here, so the rules are testable on bytes.
//
// The query: a random ID, RD set, one question (our name, type, class IN), no other records.
// A reply is judged in keepalived's order: shorter than a header, another ID, or QR clear:
// not ours, keep waiting; RCODE not 0: fail. Then vigil's addition: the question section must
// be ours (name, type, class). keepalived never looks past the header, so a server answering
// another name passes there; issue 12 counts "a DNS server answering the wrong name" as a
// failure, and a reply about another name is no evidence the server serves ours. Answers are
// not inspected (an empty answer with RCODE 0 passes, as in keepalived).

import type { DnsType } from './checks.ts';

/** RFC 1035 / 3596 / 4034 type codes of the types keepalived accepts. */
export const DNS_TYPE_CODES: Record<DnsType, number> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  RRSIG: 46,
  DNSKEY: 48,
};

const CLASS_IN = 1;
const HEADER_BYTES = 12;
const FLAG_QR = 0x8000;
const FLAG_RD = 0x0100;
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

/** The RCODE's mnemonic (`NXDOMAIN`), or its number when it has none here. */
export function rcodeName(rcode: number): string {
  return RCODES[rcode] ?? String(rcode);
}

/** The query's name as wire labels. '' (or '.') is the root. Throws RangeError on a name DNS
 * cannot carry (resolve.ts already refuses empty labels, as keepalived does). */
function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name === '' || name === '.' ? [] : name.split('.')) {
    const bytes = Buffer.from(label, 'utf8');
    if (bytes.length === 0 || bytes.length > 63) throw new RangeError(`DNS name '${name}' has a label of ${bytes.length} bytes`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const wire = Buffer.concat(parts);
  if (wire.length > 255) throw new RangeError(`DNS name '${name}' is longer than 255 bytes`);
  return wire;
}

/** The query datagram: header (ID, RD, QDCOUNT 1) and one question. */
export function encodeQuery(id: number, name: string, type: DnsType): Buffer {
  const qname = encodeName(name);
  const msg = Buffer.alloc(HEADER_BYTES + qname.length + 4);
  msg.writeUInt16BE(id & 0xffff, 0);
  msg.writeUInt16BE(FLAG_RD, 2);
  msg.writeUInt16BE(1, 4); // QDCOUNT; AN/NS/AR stay 0
  qname.copy(msg, HEADER_BYTES);
  msg.writeUInt16BE(DNS_TYPE_CODES[type], HEADER_BYTES + qname.length);
  msg.writeUInt16BE(CLASS_IN, HEADER_BYTES + qname.length + 2);
  return msg;
}

export type ReplyVerdict =
  /** Not an answer to our query: keep waiting (keepalived re-arms its read). */
  | { t: 'ignore'; why: string }
  | { t: 'fail'; error: string }
  | { t: 'pass' };

/** The name at `offset`, as lowercased labels, following compression pointers (RFC 1035
 * 4.1.4) only backwards so that a hostile loop ends; `end` is where the name ends in place.
 * Undefined when the bytes do not hold a name. */
export function readName(msg: Uint8Array, offset: number): { labels: string[]; end: number } | undefined {
  const labels: string[] = [];
  let at = offset;
  let end: number | undefined;
  let total = 0;
  for (;;) {
    const len = msg[at];
    if (len === undefined) return undefined;
    if ((len & 0xc0) === 0xc0) {
      const low = msg[at + 1];
      if (low === undefined) return undefined;
      const target = ((len & 0x3f) << 8) | low;
      if (target >= at) return undefined; // forward or self pointer: a loop or garbage
      end ??= at + 2;
      at = target;
      continue;
    }
    if (len & 0xc0) return undefined; // the reserved label types
    if (len === 0) return { labels, end: end ?? at + 1 };
    if (at + 1 + len > msg.length) return undefined;
    total += len + 1;
    if (total > 255) return undefined;
    // DNS names compare case-insensitively in ASCII only (RFC 4343)
    labels.push(Buffer.from(msg.subarray(at + 1, at + 1 + len)).toString('latin1').replace(/[A-Z]/g, (c) => c.toLowerCase()));
    at += 1 + len;
  }
}

/** "example.org" style text of labels, for reasons; the root is ".". */
function nameText(labels: string[]): string {
  return labels.length === 0 ? '.' : labels.join('.');
}

/** Judges a datagram received after sending `query` (the bytes encodeQuery made). */
export function judgeReply(query: Uint8Array, reply: Uint8Array): ReplyVerdict {
  if (reply.length < HEADER_BYTES) return { t: 'ignore', why: `${reply.length} bytes, shorter than a DNS header` };
  const r = Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength);
  const q = Buffer.from(query.buffer, query.byteOffset, query.byteLength);
  if (r.readUInt16BE(0) !== q.readUInt16BE(0)) return { t: 'ignore', why: `ID ${r.readUInt16BE(0)} is not ours` };
  const flags = r.readUInt16BE(2);
  if (!(flags & FLAG_QR)) return { t: 'ignore', why: 'a query, not a reply' };
  const rcode = flags & 0x0f;
  if (rcode !== 0) return { t: 'fail', error: `RCODE ${rcodeName(rcode)}` };

  // vigil's addition (see the header comment): the reply must be about our question
  const asked = readName(q, HEADER_BYTES);
  if (!asked) return { t: 'fail', error: 'our own query is malformed' };
  const askedType = q.readUInt16BE(asked.end);
  if (r.readUInt16BE(4) === 0) return { t: 'fail', error: 'reply has no question section' };
  const got = readName(r, HEADER_BYTES);
  if (!got || got.end + 4 > r.length) return { t: 'fail', error: 'reply has a malformed question' };
  const gotType = r.readUInt16BE(got.end);
  const gotClass = r.readUInt16BE(got.end + 2);
  const same = got.labels.length === asked.labels.length && got.labels.every((l, i) => l === asked.labels[i]);
  if (!same) return { t: 'fail', error: `reply is for '${nameText(got.labels)}', not '${nameText(asked.labels)}'` };
  if (gotType !== askedType) return { t: 'fail', error: `reply is for type ${gotType}, not ${askedType}` };
  if (gotClass !== CLASS_IN) return { t: 'fail', error: `reply is for class ${gotClass}, not IN` };
  return { t: 'pass' };
}
