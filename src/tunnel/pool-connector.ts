/**
 * The connector of a tunnel over a {@link GuacdPool}: a new session goes to
 * the healthy guacd with the fewest sessions; one that cannot be reached is
 * marked down and the next is tried, so a guacd that died since its last
 * probe costs a session a refused connection, not its start. A join goes
 * only to the guacd named (the one holding the connection): no other guacd
 * has it. Each session is counted on its guacd until its socket closes.
 */
import type { GuacdPool } from '../guacd/pool.js';
import { GuacError, isGuacError } from '../protocol/errors.js';
import { openDetached, type GuacdConnection, type GuacdConnector } from './connector.js';
import { TUNNEL } from './errors.js';

/**
 * Failures that say the guacd is not there (nothing listens, the connection
 * or its TLS failed): another guacd can take the session. A timeout is not
 * among them: it has used up the session's time, and guacd may merely be slow.
 */
const UNREACHED = new Set(['GUAC_GUACD_UNREACHABLE', 'GUAC_GUACD_IO']);

/**
 * Builds the connector.
 * @param timeoutMs connect + handshake limit of one attempt; 0 = none
 */
export function poolConnector(pool: GuacdPool, timeoutMs: number): GuacdConnector {
  return async (handshake, signal, logger, named) => {
    const attempt = async (name: string): Promise<GuacdConnection> => {
      const address = pool.address(name)!;
      const connection = await openDetached(address, handshake, signal, logger, timeoutMs);
      pool.attach(name, connection.socket);
      return { ...connection, guacd: name };
    };
    if (named !== undefined) {
      if (pool.address(named) === undefined) {
        throw TUNNEL.GUAC_TUNNEL_GUACD_UNKNOWN({ message: `The session to join runs on guacd ${JSON.stringify(named)}, which this gateway does not list.` });
      }
      return attempt(named);
    }
    const tried = new Set<string>();
    let last: GuacError | undefined;
    for (let name = pool.pick(); name !== undefined; name = pool.pick(tried)) {
      tried.add(name);
      try {
        return await attempt(name);
      } catch (err) {
        if (!isGuacError(err) || !UNREACHED.has(err.code) || signal.aborted) throw err;
        pool.markDown(name, err.code);
        logger.warn({ guacd: name, code: err.code }, 'guacd unreachable; marked down, trying another');
        last = err;
      }
    }
    throw TUNNEL.GUAC_TUNNEL_NO_GUACD({ cause: last });
  };
}
