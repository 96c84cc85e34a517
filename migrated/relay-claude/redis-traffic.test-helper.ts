import type { Redis } from 'ioredis';

/**
 * Counts what one ioredis client sends: socket writes (a pipeline / MULTI / single command is one
 * write), command names, and waves — a wave is a group of writes made before any reply arrived, so
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
  const stream = (redis as unknown as { stream: NodeJS.WritableStream & NodeJS.EventEmitter }).stream;
  const t = { writes: 0, waves: 0, commands: [] as string[] };
  let replied = true;
  const origWrite = stream.write;
  stream.write = function (this: unknown, ...args: unknown[]) {
    t.writes++;
    if (replied) t.waves++;
    replied = false;
    return (origWrite as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof stream.write;
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
      stream.write = origWrite;
      stream.removeListener('data', onData);
      redis.sendCommand = origSend;
    },
  };
}
