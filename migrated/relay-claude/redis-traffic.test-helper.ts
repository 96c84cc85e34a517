import type { Redis } from 'ioredis';

/**
 * Counts what one ioredis client sends: socket writes (a pipeline / MULTI / single command is one
 * write, so are commands queued while the socket is corked), command names, and waves — a wave is a group of writes made before any reply arrived, so
 * the number of waves is the number of sequential round trips (for one request at a time).
 */
export interface RedisTraffic {
  writes: number;
  waves: number;
  commands: string[];
  reset(): void;
  stop(): void;
}

export async function countRedisTraffic(redis: Redis): Promise<RedisTraffic> {
  await redis.ping();
  const stream = (redis as unknown as { stream: NodeJS.WritableStream & NodeJS.EventEmitter & Record<'_write' | '_writev', (...a: unknown[]) => unknown> }).stream;
  const t = { writes: 0, waves: 0, commands: [] as string[] };
  let replied = true;
  // counted where the socket hands data to the OS (_write, or _writev for what a cork held back): commands written
  // while the socket is corked are one write
  const originals = { _write: stream._write, _writev: stream._writev };
  for (const name of ['_write', '_writev'] as const) {
    const orig = originals[name];
    stream[name] = function (this: unknown, ...args: unknown[]) {
      t.writes++;
      if (replied) t.waves++;
      replied = false;
      return orig.apply(this, args);
    };
  }
  const onData = () => {
    replied = true;
  };
  stream.prependListener('data', onData);
  const origSend = redis.sendCommand;
  redis.sendCommand = function (this: Redis, ...args: Parameters<Redis['sendCommand']>) {
    t.commands.push(process.env.TRAFFIC_ARGS ? `${String(args[0].name)}(${String((args[0] as unknown as { args: unknown[] }).args[0] ?? "").slice(0, 60)})` : String(args[0].name));
    return origSend.apply(this, args);
  } as Redis['sendCommand'];
  return {
    get writes() {
      return t.writes;
    },
    get waves() {
      return t.waves;
    },
    get commands() {
      return t.commands;
    },
    reset() {
      t.writes = 0;
      t.waves = 0;
      t.commands = [];
      replied = true;
    },
    stop() {
      stream._write = originals._write;
      stream._writev = originals._writev;
      stream.removeListener('data', onData);
      redis.sendCommand = origSend;
    },
  };
}
