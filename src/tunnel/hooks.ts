/**
 * Calls a host application's hook (`onSessionStart`, `onSessionEnd`,
 * `onTransfer`): a hook that throws or rejects is logged, never lets its
 * error reach the relay.
 */
import type { Logger } from '../logger.js';

export function callHook<A extends unknown[]>(log: Logger, name: string, hook: ((...args: A) => unknown) | undefined, ...args: A): void {
  if (!hook) return;
  try {
    const r = hook(...args);
    if (r instanceof Promise) r.catch((err: unknown) => log.error({ error: err }, `tunnel: ${name} hook failed`));
  } catch (err) {
    log.error({ error: err }, `tunnel: ${name} hook failed`);
  }
}
