# Two commands on a fresh machine: `make run` (the gateway) and `make test` (every test).
SHELL := /bin/bash
.PHONY: run test build compat bench typecheck clean deps

deps:
	@scripts/ensure-deps.sh

build: deps
	@npm run -s build

# The gateway in front of LEGACY_URL (default http://127.0.0.1:3000), data port 8080,
# admin port 8081 on 127.0.0.1. Uses the Redis at REDIS_HOST:REDIS_PORT, or starts a private one.
run: build
	@eval "$$(scripts/ensure-redis.sh)" && exec node dist/gateway/main.js

# Unit, integration, compatibility suites (private redis-servers, PostgreSQL at POSTGRES_HOST).
test: deps
	@npm run -s typecheck
	@npx vitest run
	@npm run -s compat

compat: deps
	@npm run -s compat

bench: build
	@npm run -s bench

typecheck: deps
	@npm run -s typecheck

clean:
	rm -rf dist .tmp compat-tests/reports
