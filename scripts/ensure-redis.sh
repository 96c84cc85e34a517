#!/usr/bin/env bash
# Print REDIS_HOST/REDIS_PORT exports for a reachable Redis. Uses $REDIS_HOST:$REDIS_PORT
# (default 127.0.0.1:6379) when it answers PING; otherwise starts a private redis-server on a
# free port under .tmp/ (said on stderr). Installs nothing: says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
host=${REDIS_HOST:-127.0.0.1}; port=${REDIS_PORT:-6379}
ping() { node -e '
const s=require("net").connect(+process.argv[2],process.argv[1]);
s.setTimeout(500,()=>process.exit(1));s.on("error",()=>process.exit(1));
s.on("connect",()=>s.write("PING\r\n"));s.on("data",d=>process.exit(String(d).startsWith("+PONG")||String(d).startsWith("-NOAUTH")?0:1));' "$1" "$2"; }
if ping "$host" "$port"; then echo "export REDIS_HOST=$host REDIS_PORT=$port"; exit 0; fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "no Redis at $host:$port and redis-server is not installed (Debian: apt-get install redis-server)" >&2; exit 1
fi
mkdir -p .tmp/redis
free=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
redis-server --port "$free" --bind 127.0.0.1 --save '' --appendonly no --dir .tmp/redis --daemonize yes \
  --logfile "$PWD/.tmp/redis/redis.log" --pidfile "$PWD/.tmp/redis/redis-$free.pid" >/dev/null
for _ in $(seq 1 50); do ping 127.0.0.1 "$free" && break; sleep 0.1; done
echo "[setup] no Redis at $host:$port: started a private redis-server on 127.0.0.1:$free (pid file .tmp/redis/redis-$free.pid)" >&2
echo "export REDIS_HOST=127.0.0.1 REDIS_PORT=$free"
