# Two commands on a fresh machine: `make run` (the gateway) and `make test` (every test).
SHELL := /bin/bash
.PHONY: run test build compat bench typecheck clean deps

deps:
	@scripts/ensure-deps.sh

build: deps
	@npm run -s build

# The gateway in front of LEGACY_URL (default http://127.0.0.1:3000), data port 8080,
# admin port 8081 on 127.0.0.1. Uses the Redis at REDIS_HOST:REDIS_PORT, or starts a private one.
# V8 heap flags (docs/claude-relay.md, speed work): --max-semi-space-size=4, a smaller young generation
# (~20 MB less peak RSS); --heap-growing-percent=30, a full GC when the old generation has grown 30% over
# what the last one kept instead of V8's up to 4x (~35 MB less peak RSS under load, ~1% more GC time);
# --single-threaded-gc, no GC helper threads: on a host whose cores the gateway shares with Redis and the
# upstream, helpers wait for a core and stretch the pauses (session 7: p99/p50 under load ~2.5 instead of ~2.9).
NODE_HEAP_FLAGS = --max-semi-space-size=4 --heap-growing-percent=30 --single-threaded-gc
run: build
	@eval "$$(scripts/ensure-redis.sh)" && exec node $(NODE_HEAP_FLAGS) dist/gateway/main.js

# Unit, integration, compatibility suites (private redis-servers, PostgreSQL at POSTGRES_HOST).
test: deps
	@npm run -s typecheck
	@npx vitest run
	@npm run -s compat

compat: deps
	@npm run -s compat

# The Claude relay section drives both sides with wrk when installed (Debian package; the Node generator
# otherwise, which takes a third of a core on a 2-core machine): installed here when apt-get can.
bench: build
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  echo "[bench] installing wrk" && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1; } || \
	  echo "[bench] wrk not installed: the Node load generator is used"
	@npm run -s bench

typecheck: deps
	@npm run -s typecheck

clean:
	rm -rf dist .tmp compat-tests/reports
