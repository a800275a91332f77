/**
 * The worker side of `serve --workers`: names the worker's history rows,
 * takes guacd's address from the primary, answers its requests (metrics, ending
 * a dead worker's sessions, draining) and asks it for the summed metrics.
 */
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { Registry as PromRegistry } from 'prom-client';
import type { GuacdAddress } from '../guacd/socket.js';
import type { Logger } from '../logger.js';
import { STATUS } from '../protocol/status.js';
import { HttpTunnelRelay } from './cluster-http-relay.js';
import { isOurs, type ToPrimary, type ToWorker } from './cluster-messages.js';
import type { Gateway } from './gateway.js';
import type { MetricsSource } from './metrics-http.js';

/** A worker waits this long for the summed metrics. */
const SUM_TIMEOUT_MS = 10_000;

function send(m: ToPrimary): void {
  process.send?.(m);
}

/** This process as a worker of the primary. */
export class WorkerLink {
  /** The cluster's number of this worker (1, 2, … in fork order; a replacement gets a new one). */
  readonly id = cluster.worker!.id;
  /** The id its history rows carry (`sessions.gateway`): the worker number, its pid, and a random part. */
  readonly gatewayId = `w${this.id}-${process.pid}-${randomBytes(4).toString('hex')}`;
  private guacdAddress: GuacdAddress | undefined;
  private gotGuacd: (() => void) | undefined;
  private readonly sums = new Map<number, { resolve: (t: string) => void; reject: (e: Error) => void }>();
  private nextSum = 0;
  private metricsRegistry: PromRegistry | undefined;
  private gateway: Gateway | undefined;
  private drainWanted: (() => void) | undefined;
  /** Passes the HTTP tunnel requests of other workers' sessions to them. */
  readonly relay: HttpTunnelRelay;
  /** Resolves once the primary asked this worker to drain. */
  readonly drainRequested = new Promise<void>((resolve) => { this.drainWanted = resolve; });
  private stopWanted: ((drainMs: number) => void) | undefined;
  /** Resolves with the drain time once the primary asked this worker to drain and stop (`serve --drain`). */
  readonly stopRequested = new Promise<number>((resolve) => { this.stopWanted = resolve; });

  constructor(private readonly logger: Logger) {
    this.relay = new HttpTunnelRelay(this.id, logger);
    // Node's cluster ends a worker on the spot when its primary goes away (its IPC channel closes), which
    // would drop its sessions without a status or history. Marked as if it had asked to disconnect, it
    // lives on until serve's own handler of that event has closed them (workerStopRequested).
    cluster.worker!.exitedAfterDisconnect = true;
    process.on('message', (m: unknown) => {
      if (isOurs<ToWorker>(m)) this.onMessage(m);
    });
  }

  private onMessage(m: ToWorker): void {
    switch (m.t) {
      case 'gw:guacd':
        this.guacdAddress = m.address;
        this.gotGuacd?.();
        return;
      case 'gw:peers':
        this.relay.setPeers(m.peers);
        return;
      case 'gw:drain':
        this.drainWanted?.();
        return;
      case 'gw:stop':
        this.stopWanted?.(m.drainMs);
        return;
      case 'gw:end-sessions':
        void this.endSessionsOf(m.gateway);
        return;
      case 'gw:metrics?':
        if (!this.metricsRegistry) {
          send({ t: 'gw:metrics', id: m.id, metrics: [] });
          return;
        }
        this.metricsRegistry.getMetricsAsJSON().then(
          (metrics) => send({ t: 'gw:metrics', id: m.id, metrics }),
          (err: unknown) => send({ t: 'gw:metrics', id: m.id, error: String(err) }),
        );
        return;
      case 'gw:sum': {
        const waiting = this.sums.get(m.id);
        this.sums.delete(m.id);
        if (m.text !== undefined) waiting?.resolve(m.text);
        else waiting?.reject(new Error(m.error ?? 'no metrics'));
        return;
      }
    }
  }

  /** guacd's address as the primary last said (once it has said it). */
  async guacd(): Promise<() => GuacdAddress> {
    if (!this.guacdAddress) await new Promise<void>((resolve) => { this.gotGuacd = resolve; });
    return () => this.guacdAddress!;
  }

  /** This worker's metrics, for the primary to sum. */
  serveMetrics(registry: PromRegistry): void {
    this.metricsRegistry = registry;
  }

  /** The sum over every worker, from the primary (this worker's `/metrics` on the main port). */
  readonly summedMetrics: MetricsSource = () => new Promise<string>((resolve, reject) => {
    const id = this.nextSum++;
    const timer = setTimeout(() => {
      this.sums.delete(id);
      reject(new Error('the primary did not answer'));
    }, SUM_TIMEOUT_MS);
    this.sums.set(id, {
      resolve: (t) => { clearTimeout(timer); resolve(t); },
      reject: (e) => { clearTimeout(timer); reject(e); },
    });
    send({ t: 'gw:sum?', id });
  });

  /** Hands this worker's last metrics to the primary (a drained worker, about to exit). */
  async sendFinalMetrics(): Promise<void> {
    if (!this.metricsRegistry || !process.send) return;
    const message: ToPrimary = { t: 'gw:final', metrics: await this.metricsRegistry.getMetricsAsJSON() };
    await new Promise<void>((resolve) => process.send!(message, undefined, {}, () => resolve()));
  }

  /** Opens this worker's own loopback port and tells the primary it serves. */
  async ready(gateway: Gateway, address: string, port: number): Promise<void> {
    this.gateway = gateway;
    const privatePort = await this.relay.listen(gateway.server);
    send({ t: 'gw:ready', gateway: this.gatewayId, address, port, privatePort });
  }

  private async endSessionsOf(gatewayId: string): Promise<void> {
    let sessions = 0;
    try {
      sessions = await this.gateway!.registry.endOrphanedSessions({ gateway: gatewayId });
      if (sessions > 0) this.logger.warn({ gateway: gatewayId, sessions, status: STATUS.SERVER_ERROR.guac }, 'ended the sessions of a worker that died');
    } catch (err) {
      this.logger.warn({ error: err, gateway: gatewayId }, 'ending the sessions of a dead worker failed');
    }
    send({ t: 'gw:ended', gateway: gatewayId, sessions });
  }
}

/**
 * Drains a worker: it stops taking connections (the primary sends new ones
 * to the others) and resolves once its last session ended, however long that takes.
 */
export async function drain(gateway: Gateway, logger: Logger): Promise<void> {
  const { server, tunnel } = gateway;
  logger.info({ sessions: tunnel.sessions.size }, 'worker draining: no new connections, waiting for the live sessions to end');
  server.close();
  server.closeIdleConnections();
  // New sessions are refused too (GUAC_TUNNEL_DRAINING): a browser's kept-alive
  // connection may still carry one after the server stopped accepting.
  await tunnel.drain();
  logger.info({}, 'worker drained');
}
