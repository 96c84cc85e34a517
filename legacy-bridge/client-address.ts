import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/**
 * Who the client is, as the legacy would see it with nginx directly in front of it.
 *
 * The legacy runs behind nginx with `TRUST_PROXY=true` (Express `trust proxy` = 1 hop): its `req.ip` is the
 * last X-Forwarded-For entry (the address nginx appended), or the socket peer when there is none. With the
 * gateway between nginx and the legacy, re-deriving the headers from the gateway's own peer would make the
 * legacy's `req.ip` nginx's address (per-IP login limits, the Gemini sticky-session hash, logs all change).
 * So: when the immediate peer is a trusted proxy (GATEWAY_TRUSTED_PROXIES), its X-Real-IP / X-Forwarded-For /
 * X-Forwarded-Proto go to the legacy as sent and the client address is read the way Express reads it;
 * any other peer is the client itself and gets the headers set as nginx sets them.
 */

export interface TrustedProxies {
  trusts(address: string): boolean;
}

/** Entries are IP addresses or CIDR blocks (validated by gateway/config/env.ts); an empty list trusts no one. */
export function trustedProxies(entries: readonly string[]): TrustedProxies {
  if (entries.length === 0) return { trusts: () => false };
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  // A check costs ~1.5 µs; peers repeat (the nginx in front), so answers are remembered (bounded).
  const seen = new Map<string, boolean>();
  return {
    trusts(address) {
      let trusted = seen.get(address);
      if (trusted === undefined) {
        const family = isIP(address);
        // BlockList matches an IPv4-mapped IPv6 peer (::ffff:127.0.0.1) against IPv4 rules too.
        trusted = family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
        if (seen.size >= 4096) seen.clear();
        seen.set(address, trusted);
      }
      return trusted;
    },
  };
}

export interface ClientAddress {
  /** The client address the legacy derives (`req.ip` with one trusted hop); canary buckets and modules use it. */
  clientIp: string;
  /** The immediate peer is a trusted proxy: X-Real-IP / X-Forwarded-* are passed on exactly as it sent them. */
  trustedPeer: boolean;
  /** The client connection is TLS (X-Forwarded-Proto `https` when the gateway sets it). */
  encrypted: boolean;
}

/**
 * The last X-Forwarded-For entry, read like Express (proxy-addr): entries split on commas, surrounding
 * spaces dropped, empty entries skipped. Several X-Forwarded-For headers count as one list in order.
 */
export function lastForwardedFor(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const joined = Array.isArray(value) ? value.join(',') : value;
  const parts = joined.split(',');
  for (let i = parts.length - 1; i >= 0; i--) {
    const entry = parts[i]!.trim();
    if (entry !== '') return entry;
  }
  return undefined;
}

export function resolveClientAddress(req: IncomingMessage, trusted: TrustedProxies): ClientAddress {
  const peer = req.socket.remoteAddress ?? '';
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  if (!trusted.trusts(peer)) return { clientIp: peer, trustedPeer: false, encrypted };
  return { clientIp: lastForwardedFor(req.headers['x-forwarded-for']) ?? peer, trustedPeer: true, encrypted };
}
