import { connect } from 'node:net';

/**
 * A raw HTTP/1.1 exchange over a plain socket, so tests see the exact bytes on the wire (header order and
 * casing, chunk framing) — what a client of the gateway receives.
 */
export interface RawResponse {
  head: string;
  statusLine: string;
  /** [name, value, ...] in wire order and casing. */
  rawHeaders: string[];
  /** Body bytes as on the wire (still chunk-framed when Transfer-Encoding: chunked). */
  wireBody: Buffer;
  /** De-chunked body. */
  body: Buffer;
}

export function dechunk(wire: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  while (i < wire.length) {
    const lineEnd = wire.indexOf('\r\n', i);
    if (lineEnd === -1) break;
    const size = parseInt(wire.subarray(i, lineEnd).toString('latin1'), 16);
    if (!size) break;
    out.push(wire.subarray(lineEnd + 2, lineEnd + 2 + size));
    i = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/**
 * Send `request` (full request bytes) and read until the server closes — or, with `sizedBody`, until the
 * head and the `Content-Length` body bytes (or the last chunk) arrived, for servers that keep it open.
 */
export function rawExchange(port: number, request: string | Buffer, opts: { sizedBody?: boolean } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d) => {
      chunks.push(d);
      if (!opts.sizedBody) return;
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const m = split === -1 ? null : /\r\ncontent-length: *(\d+)/i.exec(all.subarray(0, split).toString('latin1'));
      if (m && all.length - split - 4 >= Number(m[1])) socket.end();
      else if (split !== -1 && !m && all.subarray(all.length - 5).toString('latin1') === '0\r\n\r\n') socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, split).toString('latin1');
      const lines = head.split('\r\n');
      const rawHeaders: string[] = [];
      for (const line of lines.slice(1)) {
        const c = line.indexOf(':');
        rawHeaders.push(line.slice(0, c), line.slice(c + 1).trim());
      }
      const wireBody = all.subarray(split + 4);
      const chunked = rawHeaders.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'transfer-encoding');
      resolve({ head, statusLine: lines[0]!, rawHeaders, wireBody, body: chunked ? dechunk(wireBody) : wireBody });
    });
    socket.write(request);
  });
}
