/**
 * `guacamole-gateway serve` as a child process with the environment a test
 * gives it (shared secret, database, data folder), for tests that stop,
 * kill and restart gateways themselves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, repoRoot, waitFor } from './env.js';

/** A child process with its output kept. */
export interface ChildRun {
  readonly child: ChildProcess;
  output(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves when it has exited. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
}

/** Starts `cmd args` in `cwd` (the repository root by default), keeping its output. */
export function startChild(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string = repoRoot()): ChildRun {
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    output: () => output,
    async stop() {
      if (gone()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (gone()) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A gateway process listening on `port`. */
export interface ServeRun extends ChildRun {
  readonly port: number;
}

/**
 * Starts `serve --port <free> ...args` with `env` and waits for /healthz.
 * @throws when it exits or does not answer within `timeoutMs` (default 30 s; its output in the message)
 */
export async function startServe(env: NodeJS.ProcessEnv, args: readonly string[] = [], timeoutMs = 30_000): Promise<ServeRun> {
  const port = await freePort();
  const run = startChild(process.execPath, [join(repoRoot(), 'bin/guacamole-gateway.js'), 'serve', '--port', String(port), ...args], env);
  try {
    await waitFor(async () => {
      if (run.child.exitCode !== null) throw new Error(`serve exited with ${run.child.exitCode}:\n${run.output()}`);
      return (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) || undefined;
    }, { what: `serve on ${port} to answer /healthz`, timeoutMs });
  } catch (err) {
    await run.stop();
    throw err;
  }
  return { ...run, port };
}
