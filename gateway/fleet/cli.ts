import { readFile, rename, writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { knownModuleNames } from '../../migrated/registry.js';
import { createRedisClient } from '../../migrated/storage/redis-client.js';
import { parseArgs, registerRoutesCommand, type CliContext } from '../cli/command-map.js';
import { formatTable } from '../cli/table-format.js';
import { loadConfig } from '../config/env.js';
import { validateTable } from '../routing/validate.js';
import { pruneSilent, readFleet, type FleetView } from './instances.js';
import type { NginxOptionsInput } from './nginx/options.js';
import { testConfig } from './nginx/process.js';
import { renderSidecar, renderSplit } from './nginx/render.js';
import { publishTable, readPublished, rollbackTable, type PublishResult } from './published-table.js';

/**
 * Subcommands of `npm run routes --`:
 *   nginx   [--mode split|sidecar] [--out FILE | --check FILE] [--test] [deployment options]
 *   publish [--expect-revision N] [--wait MS]          publish the table file to the fleet (Redis)
 *   publish --rollback [--to N] [--no-write-file]      republish the previous (or revision N's) table, and write it to the file
 *   fleet   [--prune-older-than MS]                    which revision each instance runs
 */

async function writeAtomic(path: string, text: string): Promise<void> {
  const target = resolve(path);
  const tmp = `${target}.${process.pid}.tmp`;
  await writeFile(tmp, text, 'utf8');
  await rename(tmp, target);
}

const list = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

function nginxInput(o: Record<string, string>): NginxOptionsInput {
  const input: NginxOptionsInput = {};
  const listen = list(o.listen);
  if (listen) input.listen = listen;
  if (o['server-name']) input.serverName = o['server-name'];
  const gateways = list(o.gateway);
  if (gateways) input.gateways = gateways;
  const legacy = list(o.legacy);
  if (legacy) input.legacy = legacy;
  if (o['no-legacy-backup']) input.legacyBackup = false;
  if (o['status-listen']) input.statusListen = o['status-listen'] === 'off' ? null : o['status-listen'];
  if (o.admin) input.gatewayAdmin = o.admin;
  if (o['max-body']) input.clientMaxBodySize = o['max-body'];
  const includes = list(o['server-include']);
  if (includes) input.serverIncludes = includes;
  return input;
}

registerRoutesCommand('nginx', {
  usage:
    'nginx [--mode split|sidecar] [--out FILE | --check FILE] [--test] [--listen 80] [--gateway host:port,...] [--legacy host:port,...] [--admin host:port] [--status-listen host:port|off] [--no-legacy-backup] [--max-body 60m] [--server-include FILE,...]',
  summary: 'generate the nginx config (split: from the routing table; sidecar: static), write it, check a deployed one, or nginx -t it',
  async run(args, ctx) {
    const { options } = parseArgs(args);
    const mode = options.mode ?? 'split';
    if (mode !== 'split' && mode !== 'sidecar') {
      ctx.err(`--mode must be split or sidecar, not "${mode}"`);
      return 2;
    }
    let text: string;
    try {
      if (mode === 'sidecar') {
        text = renderSidecar(nginxInput(options));
      } else {
        const checked = validateTable(JSON.parse(await readFile(ctx.tablePath, 'utf8')), { knownModules: knownModuleNames() });
        if (!checked.ok) {
          ctx.err(`${ctx.tablePath} is invalid; nothing generated:`);
          for (const e of checked.errors) ctx.err(`  ${e}`);
          return 1;
        }
        const r = renderSplit(checked.table, nginxInput(options), checked.compiled.version);
        text = r.text;
        const direct = r.plan.entries.filter((e) => e.target === 'legacy').length;
        ctx.err(`split: ${r.plan.entries.length} patterns, ${direct} straight to the legacy, ${r.plan.entries.length - direct} to the gateway`);
      }
    } catch (err) {
      ctx.err((err as Error).message);
      return 1;
    }
    if (options.test) {
      const t = await testConfig(text);
      ctx.err(t.output);
      if (!t.ok) return 1;
    }
    if (options.check) {
      const deployed = await readFile(options.check, 'utf8').catch(() => null);
      if (deployed === text) {
        ctx.out(`${options.check} matches ${mode === 'split' ? ctx.tablePath : 'the sidecar config'}`);
        return 0;
      }
      ctx.err(
        deployed === null
          ? `${options.check} does not exist`
          : `${options.check} DISAGREES with ${mode === 'split' ? ctx.tablePath : 'the sidecar config'}: regenerate with --out, then nginx -t && nginx -s reload`,
      );
      return 1;
    }
    if (options.out) {
      await writeAtomic(options.out, text);
      ctx.out(`wrote ${options.out}`);
    } else {
      ctx.out(text);
    }
    return 0;
  },
});

function formatFleet(view: FleetView, ctx: CliContext): void {
  if (view.published) {
    ctx.out(`published: r${view.published.revision} ${view.published.version} by ${view.published.publishedBy} at ${new Date(view.published.publishedAt).toISOString()}`);
  } else ctx.out('published: nothing (instances run their table file)');
  ctx.out(`${'INSTANCE'.padEnd(28)} ${'STATE'.padEnd(8)} ${'REVISION'.padEnd(9)} ${'APPLIED'.padEnd(26)} LAG(ms)  LAST ERROR`);
  for (const i of view.instances) {
    const lag = i.appliedAt !== null && view.published && i.revision === view.published.revision ? String(i.appliedAt - view.published.publishedAt) : '-';
    ctx.out(
      `${i.instanceId.padEnd(28)} ${i.state.padEnd(8)} ${(i.revision === null ? '-' : `r${i.revision}`).padEnd(9)} ${(i.appliedAt ? new Date(i.appliedAt).toISOString() : '-').padEnd(26)} ${lag.padEnd(8)} ${i.lastError ?? ''}`,
    );
  }
  for (const f of view.unreadable) ctx.out(`${f.padEnd(28)} unreadable heartbeat`);
  ctx.out(view.converged ? 'fleet: converged' : 'fleet: NOT converged');
}

async function withRedis<T>(ctx: CliContext, fn: (redis: ReturnType<typeof createRedisClient>) => Promise<T>): Promise<T> {
  const config = loadConfig(ctx.env);
  const redis = createRedisClient(config, { commandTimeoutMs: 3000, connectNow: true });
  try {
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

registerRoutesCommand('publish', {
  usage: 'publish [--expect-revision N] [--wait MS] | publish --rollback [--to N] [--no-write-file] [--wait MS]',
  summary:
    'validate the table file and publish it to every gateway following Redis (ROUTING_SOURCE=redis); --rollback republishes the previous table and writes it to the file',
  async run(args, ctx) {
    const { options } = parseArgs(args);
    const wait = Number(options.wait ?? 3000);
    const expect = options['expect-revision'] === undefined ? undefined : Number(options['expect-revision']);
    const by = options.by ?? `${userInfo().username}@${hostname()}`;
    return withRedis(ctx, async (redis) => {
      const base = { knownModules: knownModuleNames(), by, now: Date.now(), expectRevision: expect };
      let result: PublishResult;
      if (options.rollback) {
        const rolled = await rollbackTable(redis, { ...base, toRevision: options.to === undefined ? undefined : Number(options.to) });
        result = rolled;
        // The file is the operator's interface: it gets the restored table too, or the next publish
        // would bring the rolled-back change back.
        if (rolled.ok && !options['no-write-file']) {
          const restored = (await readPublished(redis))?.tableJson;
          if (restored) {
            await writeAtomic(ctx.tablePath, formatTable(JSON.parse(restored) as Record<string, unknown>));
            ctx.out(`wrote the restored table (r${rolled.restoredRevision}) to ${ctx.tablePath}: commit it`);
          }
        }
      } else {
        let text: string;
        try {
          text = await readFile(ctx.tablePath, 'utf8');
        } catch (err) {
          ctx.err(`cannot read ${ctx.tablePath}: ${(err as Error).message}`);
          return 1;
        }
        result = await publishTable(redis, text, base);
      }
      if (!result.ok) {
        ctx.err('not published:');
        for (const e of result.errors) ctx.err(`  ${e}`);
        return 1;
      }
      for (const w of result.warnings) ctx.err(`warning: ${w}`);
      ctx.out(`published r${result.revision} (was r${result.previousRevision}), version ${result.tableVersion}, sha256 ${result.sha256.slice(0, 12)}`);
      if (wait <= 0) return 0;
      const deadline = Date.now() + wait;
      let view = await readFleet(redis, Date.now());
      while (!view.converged && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        view = await readFleet(redis, Date.now());
      }
      formatFleet(view, ctx);
      if (view.instances.length === 0) {
        ctx.err('no gateway instance has reported yet (are they running with ROUTING_SOURCE=redis?)');
        return 0;
      }
      return view.converged ? 0 : 3;
    });
  },
});

registerRoutesCommand('fleet', {
  usage: 'fleet [--prune-older-than MS]',
  summary: 'show the published revision and the revision each gateway instance runs',
  async run(args, ctx) {
    const { options } = parseArgs(args);
    return withRedis(ctx, async (redis) => {
      if (options['prune-older-than']) {
        const gone = await pruneSilent(redis, Date.now(), Number(options['prune-older-than']));
        ctx.out(`pruned: ${gone.join(', ') || 'none'}`);
      }
      const view = await readFleet(redis, Date.now());
      formatFleet(view, ctx);
      return view.converged || view.instances.length === 0 ? 0 : 3;
    });
  },
});
