import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../test-support/free-port.js';
import { loadConfig } from '../gateway/config/env.js';
import type { Gateway } from '../gateway/create.js';
import { startNginx, type RunningNginx } from '../gateway/fleet/nginx/process.js';
import { renderSidecar } from '../gateway/fleet/nginx/render.js';
import { bucketOf } from '../gateway/routing/canary.js';
import type { ShadowSink, TeeExchange } from '../gateway/server/shadow-sink.js';
import { startTestGateway } from '../gateway/testing/gateway.js';
import { startOrigin, type Origin } from '../gateway/testing/origin.js';
import type { MigratedModuleFactory } from '../migrated/module.js';
import { lastForwardedFor, trustedProxies } from './client-address.js';

/**
 * The client address behind a proxy: the legacy (Express `trust proxy` = 1) must see through the gateway
 * exactly what it sees with nginx directly in front of it; the canary bucket and the module's ctx.clientIp
 * use the same address.
 */

describe('trusted proxies and X-Forwarded-For', () => {
  it('matches addresses and CIDR blocks of both families, IPv4-mapped peers included; an empty list trusts none', () => {
    const t = trustedProxies(['127.0.0.1', '::1', '10.0.0.0/8', 'fd00::/8']);
    for (let pass = 0; pass < 2; pass++) {
      // (the second pass reads the remembered answers)
      for (const a of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '10.200.3.4', '::ffff:10.0.0.1', 'fd12::5']) expect(t.trusts(a), a).toBe(true);
      for (const a of ['127.0.0.2', '192.168.1.1', '::2', 'fe80::1', '', 'not-an-ip']) expect(t.trusts(a), a).toBe(false);
    }
    expect(trustedProxies([]).trusts('127.0.0.1')).toBe(false);
  });

  it('reads the last X-Forwarded-For entry like Express (spaces trimmed, empty entries skipped)', () => {
    expect(lastForwardedFor('203.0.113.9')).toBe('203.0.113.9');
    expect(lastForwardedFor('198.51.100.1, 203.0.113.9')).toBe('203.0.113.9');
    expect(lastForwardedFor('198.51.100.1 ,203.0.113.9 , ')).toBe('203.0.113.9');
    expect(lastForwardedFor(['1.1.1.1', '2.2.2.2'])).toBe('2.2.2.2');
    expect(lastForwardedFor(' , ')).toBeUndefined();
    expect(lastForwardedFor(undefined)).toBeUndefined();
  });

  it('GATEWAY_TRUSTED_PROXIES: loopback by default, a list, none, or one clear line for a bad entry', () => {
    expect(loadConfig({}).GATEWAY_TRUSTED_PROXIES).toEqual(['127.0.0.1', '::1']);
    expect(loadConfig({ GATEWAY_TRUSTED_PROXIES: ' 10.0.0.0/8, ::1 ' }).GATEWAY_TRUSTED_PROXIES).toEqual(['10.0.0.0/8', '::1']);
    expect(loadConfig({ GATEWAY_TRUSTED_PROXIES: 'none' }).GATEWAY_TRUSTED_PROXIES).toEqual([]);
    for (const bad of ['10.0.0.0/33', 'localhost', '127.0.0.1,nginx', 'fd00::/129']) {
      expect(() => loadConfig({ GATEWAY_TRUSTED_PROXIES: bad })).toThrow(
        `invalid configuration: GATEWAY_TRUSTED_PROXIES=${JSON.stringify(bad)}: must be a comma-separated list of IP addresses or CIDR blocks`,
      );
    }
  });
});

interface Echo {
  rawHeaders: string[];
}
const headerMap = (raw: string[]) => Object.fromEntries(raw.flatMap((v, i, a) => (i % 2 === 0 ? [[v.toLowerCase(), a[i + 1]!]] : [])));
const forwardedOf = (raw: string[]) => {
  const h = headerMap(raw);
  return { realIp: h['x-real-ip'], xff: h['x-forwarded-for'], proto: h['x-forwarded-proto'] };
};

/** One request from `localAddress` (127.0.0.1 = a trusted peer by default, 127.0.0.2 = not). */
function call(port: number, path: string, localAddress: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, localAddress, headers: { connection: 'close', ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? 'x' : undefined);
  });
}

/** Answers what the module was told: ctx.clientIp and the forwarded headers it sees. */
const whoModule: MigratedModuleFactory = () => ({
  name: 'who',
  async handle(req, res, ctx) {
    for await (const _ of req);
    const out = JSON.stringify({ side: 'migrated', clientIp: ctx.clientIp, rawHeaders: req.rawHeaders });
    res.writeHead(200, ['Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(out))]);
    res.end(out);
  },
});

/** Two addresses on either side of a 50% canary (found from the bucket hash, not hard-coded). */
function addressesAcross50(): { migrated: string; legacy: string } {
  let migrated = '';
  let legacy = '';
  for (let i = 1; i < 250 && (!migrated || !legacy); i++) {
    const ip = `198.51.100.${i}`;
    if (bucketOf(`ip:${ip}`) < 5000) migrated ||= ip;
    else legacy ||= ip;
  }
  return { migrated, legacy };
}

describe('client address through the gateway (real sockets)', () => {
  let origin: Origin;
  let gw: Gateway;
  const teed: TeeExchange[] = [];
  const sink: ShadowSink = {
    async onExchange(x) {
      await x.runCandidate();
      teed.push(x);
    },
  };

  beforeAll(async () => {
    origin = await startOrigin();
    gw = await startTestGateway(origin.url, {
      modules: { who: async () => whoModule },
      shadowSink: sink,
      table: {
        routes: [
          { id: 'who', paths: ['/who'], mode: 'migrated', module: 'who' },
          { id: 'canary', methods: ['POST'], paths: ['/echo'], mode: 'canary', module: 'who', canary: { percent: 50 } },
          { id: 'shadow', methods: ['POST'], paths: ['/shadow'], mode: 'shadow', module: 'who', shadow: { primary: 'migrated' } },
        ],
      },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await origin?.close();
  });

  const nginxHeaders = { 'X-Real-IP': '203.0.113.7', 'X-Forwarded-For': '198.51.100.1, 203.0.113.7', 'X-Forwarded-Proto': 'https' };

  it('a trusted peer (loopback by default): X-Real-IP / X-Forwarded-* reach the legacy unchanged, in the client order', async () => {
    const r = await call(gw.dataPort, '/bytes/1', '127.0.0.1', { 'X-Forwarded-Proto': 'https', 'X-Real-IP': '203.0.113.7', 'X-Forwarded-For': '198.51.100.1, 203.0.113.7', 'X-After': '1' });
    expect(r.status).toBe(200);
    const seen = origin.seen[origin.seen.length - 1]!.rawHeaders;
    expect(forwardedOf(seen)).toEqual({ realIp: '203.0.113.7', xff: '198.51.100.1, 203.0.113.7', proto: 'https' });
    const names = seen.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names.filter((n) => n.startsWith('x-'))).toEqual(['x-forwarded-proto', 'x-real-ip', 'x-forwarded-for', 'x-after']);
  });

  it('any other peer is the client: headers set as nginx sets them (its X-Real-IP replaced, X-Forwarded-For appended)', async () => {
    await call(gw.dataPort, '/bytes/1', '127.0.0.2', nginxHeaders);
    expect(forwardedOf(origin.seen[origin.seen.length - 1]!.rawHeaders)).toEqual({
      realIp: '127.0.0.2',
      xff: '198.51.100.1, 203.0.113.7, 127.0.0.2',
      proto: 'http',
    });
  });

  it("the module's ctx.clientIp and request headers follow the same rule", async () => {
    const trusted = JSON.parse((await call(gw.dataPort, '/who', '127.0.0.1', nginxHeaders)).body) as { clientIp: string; rawHeaders: string[] };
    expect(trusted.clientIp).toBe('203.0.113.7');
    expect(forwardedOf(trusted.rawHeaders)).toEqual({ realIp: '203.0.113.7', xff: '198.51.100.1, 203.0.113.7', proto: 'https' });
    const direct = JSON.parse((await call(gw.dataPort, '/who', '127.0.0.2', nginxHeaders)).body) as { clientIp: string; rawHeaders: string[] };
    expect(direct.clientIp).toBe('127.0.0.2');
    expect(forwardedOf(direct.rawHeaders)).toEqual({ realIp: '127.0.0.2', xff: '198.51.100.1, 203.0.113.7, 127.0.0.2', proto: 'http' });
    // A trusted peer that sends no X-Forwarded-For is the client itself (Express falls back to the socket).
    expect((JSON.parse((await call(gw.dataPort, '/who', '127.0.0.1')).body) as { clientIp: string }).clientIp).toBe('127.0.0.1');
  });

  it('the canary buckets a keyless request by the client behind the trusted proxy, not by the proxy', async () => {
    const { migrated, legacy } = addressesAcross50();
    const sideOf = async (client: string) => {
      const r = await call(gw.dataPort, '/echo', '127.0.0.1', { 'X-Real-IP': client, 'X-Forwarded-For': client }, 'POST');
      return (JSON.parse(r.body) as { side?: string }).side ?? 'legacy';
    };
    for (let i = 0; i < 3; i++) {
      expect(await sideOf(migrated)).toBe('migrated');
      expect(await sideOf(legacy)).toBe('legacy');
    }
  });

  it('shadow copies carry the derived client and go to the legacy with the trusted headers as sent', async () => {
    teed.length = 0;
    await call(gw.dataPort, '/shadow', '127.0.0.1', nginxHeaders, 'POST');
    await call(gw.dataPort, '/shadow', '127.0.0.2', nginxHeaders, 'POST');
    for (let i = 0; i < 300 && teed.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    const byPeer = new Map(teed.map((x) => [x.request.trustedPeer, x]));
    expect(byPeer.get(true)!.request.clientIp).toBe('203.0.113.7');
    expect(byPeer.get(false)!.request.clientIp).toBe('127.0.0.2');
    const copies = origin.seen.filter((s) => s.url === '/shadow').map((s) => forwardedOf(s.rawHeaders));
    expect(copies).toContainEqual({ realIp: '203.0.113.7', xff: '198.51.100.1, 203.0.113.7', proto: 'https' });
    expect(copies).toContainEqual({ realIp: '127.0.0.2', xff: '198.51.100.1, 203.0.113.7, 127.0.0.2', proto: 'http' });
  });
});

describe('behind real nginx (sidecar config): the legacy sees what it sees with nginx directly in front', () => {
  let origin: Origin;
  let gw: Gateway;
  const nginx: RunningNginx[] = [];
  let viaGateway = 0;
  let direct = 0;

  beforeAll(async () => {
    origin = await startOrigin();
    gw = await startTestGateway(origin.url);
    const site = (listen: number, upstream: number) =>
      renderSidecar({ listen: [`127.0.0.1:${listen}`], gateways: [`127.0.0.1:${upstream}`], legacy: [origin.url.slice(7)], legacyBackup: false, statusListen: null });
    viaGateway = await freePort();
    nginx.push(await startNginx(site(viaGateway, gw.dataPort), viaGateway));
    direct = await freePort();
    nginx.push(await startNginx(site(direct, origin.port), direct));
  });
  afterAll(async () => {
    for (const n of nginx) await n.stop();
    await gw?.close();
    await origin?.close();
  });

  it.each([
    ['no forwarding headers', {}],
    ['a client-sent X-Forwarded-For and X-Real-IP', { 'X-Forwarded-For': '192.0.2.44', 'X-Real-IP': '192.0.2.45' }],
  ])('client at 127.0.0.2 with %s', async (_name, headers: Record<string, string>) => {
    const seen = async (port: number) => {
      await call(port, '/bytes/1', '127.0.0.2', headers);
      return origin.seen[origin.seen.length - 1]!.rawHeaders;
    };
    const a = await seen(direct);
    const b = await seen(viaGateway);
    expect(forwardedOf(b)).toEqual(forwardedOf(a));
    expect(forwardedOf(b).realIp).toBe('127.0.0.2');
    // Express with `trust proxy` = 1 (the legacy's TRUST_PROXY=true): req.ip is the last X-Forwarded-For entry.
    expect(lastForwardedFor(forwardedOf(b).xff)).toBe('127.0.0.2');
    const names = (raw: string[]) => raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()).filter((n) => n !== 'connection');
    expect(names(b)).toEqual(names(a));
  });
});
