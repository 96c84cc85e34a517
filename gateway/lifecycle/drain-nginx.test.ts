import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../test-support/free-port.js';
import type { Gateway } from '../create.js';
import { startNginx, type RunningNginx } from '../fleet/nginx/process.js';
import { renderSidecar } from '../fleet/nginx/render.js';
import { send } from '../fleet/nginx/send.js';
import { startTestGateway } from '../testing/gateway.js';
import { startOrigin, type Origin } from '../testing/origin.js';

/**
 * The drill's finding, end to end: real nginx (sidecar config: upstream keep-alive pool, the legacy as backup)
 * in front of one gateway that drains (SIGTERM's work) while 40 clients keep sending through nginx. Before the
 * fix nginx kept the draining gateway busy on its pooled connections until GATEWAY_DRAIN_TIMEOUT_MS (20 s
 * here, beyond the test timeout) and then everything in flight was cut. Now its in-flight answers and streams
 * finish, nginx stops using its connections (Connection: close) and sends new requests to the backup, and the
 * drain ends with the gateway's last request.
 */

describe('drain behind nginx keep-alive', () => {
  let origin: Origin;
  let gw: Gateway;
  let nginx: RunningNginx;
  let port: number;

  beforeAll(async () => {
    origin = await startOrigin();
    gw = await startTestGateway(origin.url, { env: { GATEWAY_DRAIN_TIMEOUT_MS: '20000' } });
    port = await freePort();
    nginx = await startNginx(
      renderSidecar({
        listen: [`127.0.0.1:${port}`],
        gateways: [`127.0.0.1:${gw.dataPort}`],
        legacy: [origin.url.slice('http://'.length)],
        statusListen: null,
        // No passive health marking: nginx keeps choosing the draining gateway and reuses its pooled
        // connections (with max_fails=1 the first refused connect happens to take it out for fail_timeout).
        maxFails: 0,
      }),
      port,
    );
  });
  afterAll(async () => {
    await nginx?.stop();
    await gw?.close();
    await origin?.close();
  });

  it('40 keep-alive clients keep being served while the gateway drains; streams finish; the drain ends with its last request', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const failures: string[] = [];
    let served = 0;
    let stop = false;
    const client = async () => {
      while (!stop) {
        try {
          const r = await send(port, 'GET', '/sse/3/15', { agent, timeoutMs: 10_000 });
          if (r.status !== 200 || !r.body.endsWith('event: done\ndata: {"n":3}\n\n')) failures.push(`status ${r.status}: ${r.body.slice(-40)}`);
          else served++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    // Longer streams (10 events, 60 ms apart) in flight when the drain starts.
    const streams = Array.from({ length: 4 }, () => send(port, 'GET', '/sse/10/60', { agent, timeoutMs: 10_000 }));
    const clients = Array.from({ length: 40 }, () => client());
    for (let i = 0; i < 300 && (served < 40 || gw.inFlight() < 10); i++) await new Promise((r) => setTimeout(r, 10));
    expect(gw.inFlight()).toBeGreaterThanOrEqual(10);
    const servedBefore = served;

    await gw.close(); // resolves once its in-flight requests are done (GATEWAY_DRAIN_TIMEOUT_MS is 20 s)
    expect(gw.inFlight()).toBe(0);
    const servedAtClose = served;
    await new Promise((r) => setTimeout(r, 300)); // clients keep going, now on the backup
    stop = true;
    await Promise.all(clients);
    const done = await Promise.all(streams);
    agent.destroy();

    expect(failures).toEqual([]);
    expect(servedBefore).toBeGreaterThan(0);
    expect(served).toBeGreaterThan(servedAtClose);
    for (const s of done) {
      expect(s.status).toBe(200);
      expect(s.body).toMatch(/^data: \{"n":1\}\n\n[\s\S]*event: done\ndata: \{"n":10\}\n\n$/);
    }
  }, 15_000);
});
