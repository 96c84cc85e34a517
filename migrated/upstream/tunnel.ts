import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { ProxyConfig } from './proxy.js';

/**
 * Opens a raw TCP tunnel to `host:port` through a proxy: HTTP CONNECT (http/https proxy types)
 * or SOCKS5 (remote DNS, optional username/password). Resolves with the connected socket,
 * ready for TLS or plain HTTP.
 */
export function openTunnel(proxy: ProxyConfig, host: string, port: number, timeoutMs = 30_000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: proxy.host, port: Number(proxy.port) });
    socket.setNoDelay(true);
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(Object.assign(new Error('proxy connect timeout'), { code: 'ETIMEDOUT' })), timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('connect', () => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        socket.removeAllListeners('data');
        if (err) fail(err);
        else resolve(socket);
      };
      if (proxy.type === 'socks5' || proxy.type === 'socks5h') socks5Handshake(socket, proxy, host, port, done);
      else httpConnect(socket, proxy, host, port, done);
    });
  });
}

function httpConnect(socket: Socket, proxy: ProxyConfig, host: string, port: number, done: (err?: Error) => void): void {
  const target = `${host}:${port}`;
  let head = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n`;
  if (proxy.username) head += `Proxy-Authorization: Basic ${Buffer.from(`${proxy.username}:${proxy.password ?? ''}`).toString('base64')}\r\n`;
  socket.write(`${head}\r\n`);
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(buf.subarray(0, end).toString('latin1'));
    if (!status || status[1] !== '200') return done(new Error(`proxy CONNECT failed: ${buf.subarray(0, end).toString('latin1').split('\r\n')[0]}`));
    const rest = buf.subarray(end + 4);
    if (rest.length) socket.unshift(rest);
    done();
  });
}

function socks5Handshake(socket: Socket, proxy: ProxyConfig, host: string, port: number, done: (err?: Error) => void): void {
  const withAuth = !!proxy.username;
  let stage: 'greeting' | 'auth' | 'connect' = 'greeting';
  let buf = Buffer.alloc(0);
  socket.write(Buffer.from(withAuth ? [5, 2, 0, 2] : [5, 1, 0]));
  const sendConnect = () => {
    stage = 'connect';
    let addr: Buffer;
    const ipv = isIP(host);
    if (ipv === 4) addr = Buffer.from([1, ...host.split('.').map(Number)]);
    else {
      const name = Buffer.from(host);
      addr = Buffer.concat([Buffer.from([3, name.length]), name]);
    }
    const p = Buffer.alloc(2);
    p.writeUInt16BE(port);
    socket.write(Buffer.concat([Buffer.from([5, 1, 0]), addr, p]));
  };
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    if (stage === 'greeting') {
      if (buf.length < 2) return;
      const method = buf[1];
      buf = buf.subarray(2);
      if (method === 0) return sendConnect();
      if (method === 2 && withAuth) {
        stage = 'auth';
        const u = Buffer.from(proxy.username ?? '');
        const pw = Buffer.from(proxy.password ?? '');
        socket.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([pw.length]), pw]));
        return;
      }
      return done(new Error('SOCKS5 proxy refused the authentication methods'));
    }
    if (stage === 'auth') {
      if (buf.length < 2) return;
      if (buf[1] !== 0) return done(new Error('SOCKS5 proxy authentication failed'));
      buf = buf.subarray(2);
      return sendConnect();
    }
    // connect reply: VER REP RSV ATYP BND.ADDR BND.PORT
    if (buf.length < 5) return;
    if (buf[1] !== 0) return done(new Error(`SOCKS5 connect failed (reply ${buf[1]})`));
    const atyp = buf[3];
    const len = atyp === 1 ? 4 : atyp === 4 ? 16 : 1 + buf[4]!;
    const total = 4 + len + 2;
    if (buf.length < total) return;
    const rest = buf.subarray(total);
    if (rest.length) socket.unshift(rest);
    done();
  });
}
