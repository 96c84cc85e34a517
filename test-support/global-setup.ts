import { execFileSync } from 'node:child_process';

/** Fail fast, with one clear line, when a tool the suites need is missing. */
export default function setup(): void {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('redis-server is not installed: tests start private Redis servers (Debian: apt-get install redis-server)');
  }
}
