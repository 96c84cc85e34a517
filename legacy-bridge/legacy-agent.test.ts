import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LegacyAgent } from './legacy-agent.js';

let server: Server;
let port: number;

beforeAll(async () => {
  server = createServer((req, res) => res.end(`${req.socket.remotePort}`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function get(agent: LegacyAgent, host = '127.0.0.1'): Promise<{ body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', agent }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ body, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

const settle = () => new Promise((r) => setImmediate(r));

describe('LegacyAgent (keep-alive pool with a direct free-socket path)', () => {
  it('reuses the pooled connection and counts it busy while in use', async () => {
    const agent = new LegacyAgent({ hostname: '127.0.0.1', port: String(port) }, { keepAlive: true, scheduling: 'lifo' });
    const first = await get(agent);
    await settle();
    const second = await get(agent);
    await settle();
    expect(first.reused).toBe(false);
    expect(second.reused).toBe(true);
    expect(second.body).toBe(first.body); // same client port: same connection
    const name = `127.0.0.1:${port}:`;
    expect(agent.freeSockets[name]?.length).toBe(1);
    expect(agent.sockets[name]?.length ?? 0).toBe(0);
    agent.destroy();
  });

  it('skips a pooled socket that was destroyed and opens a new one', async () => {
    const agent = new LegacyAgent({ hostname: '127.0.0.1', port: String(port) }, { keepAlive: true, scheduling: 'lifo' });
    const first = await get(agent);
    await settle();
    const pooled = agent.freeSockets[`127.0.0.1:${port}:`]![0] as Socket;
    pooled.destroy();
    const second = await get(agent);
    expect(second.reused).toBe(false);
    expect(second.body).not.toBe(first.body);
    agent.destroy();
  });

  it('leaves other targets to the plain Agent path', async () => {
    const agent = new LegacyAgent({ hostname: '127.0.0.2', port: String(port) }, { keepAlive: true });
    const a = await get(agent);
    await settle();
    const b = await get(agent);
    expect(b.reused).toBe(true);
    expect(b.body).toBe(a.body);
    agent.destroy();
  });
});
