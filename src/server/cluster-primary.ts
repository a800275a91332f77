/**
 * The primary of `serve --workers N`: forks N workers (node:cluster) that
 * share the port, each a whole gateway with its own registry handle;
 * supervises the local guacd they share; replaces a worker that dies and
 * has a live worker end the dead one's open history rows (status
 * SERVER_ERROR, as for any orphan); on SIGHUP replaces the workers one at a
 * time (the new one serves before the old one drains); on SIGINT/SIGTERM
 * stops them all (each ends its sessions with history) and exits. With
 * `--metrics-listen HOST:PORT` it serves the metrics summed over the workers.
 *
 * The first worker starts alone: it migrates the schema and, on SQLite, ends
 * the previous run's open sessions before any other worker records one.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { GuacdAddress } from '../guacd/socket.js';
import type { Logger } from '../logger.js';
import { isOurs, type ToPrimary, type ToWorker, type WorkerMetrics } from './cluster-messages.js';
import { listen, metricsServer } from './metrics-http.js';

/** How long the primary waits for a worker to serve. */
const START_TIMEOUT_MS = 60_000;
/** How long workers get to end their sessions at stop before they are killed. */
const STOP_TIMEOUT_MS = 30_000;
/** How long one worker gets to send its metrics. */
const METRICS_TIMEOUT_MS = 5000;
/** A worker that dies within this of its start counts as crashing: its replacement waits (backoff). */
const QUICK_DEATH_MS = 10_000;
const BACKOFF_MS = [0, 500, 1000, 2000, 5000, 10_000, 30_000];
/** How often the supervised guacd's address is compared with what the workers were told. */
const GUACD_WATCH_MS = 1000;

/** Where a worker listens (the shared port). */
interface Listening {
  address: string;
  port: number;
}

interface Member {
  worker: Worker;
  state: 'starting' | 'serving' | 'draining' | 'stopping';
  gateway?: string;
  /** It replaces a worker that died. */
  replacement: boolean;
  /** It was killed for not serving within START_TIMEOUT_MS. */
  timedOut?: boolean;
  /** It sent its last metrics (drained): they are in `retired`, no longer asked for. */
  retired?: boolean;
  /** Its own loopback port (HTTP tunnel requests passed between workers). */
  privatePort?: number;
  startedAt: number;
}

/** What the primary runs on. */
export interface PrimaryOptions {
  workers: number;
  logger: Logger;
  /** guacd's current address when the primary supervises it; absent: the workers use `--guacd`. */
  guacd?: () => GuacdAddress;
  /** Where to serve the summed metrics on a listener of their own. */
  metricsListen?: { host: string; port: number };
}

/** The running primary. */
export class Primary {
  private readonly members = new Map<number, Member>();
  /** Gateway ids of dead workers whose open sessions a live worker must still end. */
  private readonly closeOuts = new Set<string>();
  private readonly readyWaiters = new Map<number, { resolve: (at: Listening) => void; reject: (e: Error) => void }>();
  private readonly metricsWaiters = new Map<number, (m: WorkerMetrics | undefined) => void>();
  private nextRequest = 0;
  /** Counters and histograms of drained workers: the totals carry on across SIGHUP. */
  private retired: WorkerMetrics[] = [];
  private folding: Promise<void> = Promise.resolve();
  private quickDeaths = 0;
  private stopping = false;
  private rolling: Promise<void> = Promise.resolve();
  private guacdTold: string | undefined;
  private guacdWatch: NodeJS.Timeout | undefined;
  private metrics: import('node:http').Server | undefined;
  /** Where the first worker listens. */
  address = { address: '', port: 0 };

  constructor(private readonly opts: PrimaryOptions) {
    cluster.on('message', (worker, m: unknown) => {
      if (isOurs<ToPrimary>(m)) this.onMessage(worker, m);
    });
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
  }

  /** Forks the workers (the first alone) and resolves once all serve. */
  async start(): Promise<void> {
    const log = this.opts.logger;
    if (this.opts.metricsListen) {
      const server = metricsServer(() => this.summedMetrics(), log);
      await listen(server, this.opts.metricsListen.port, this.opts.metricsListen.host);
      this.metrics = server;
    }
    const first = await this.fork();
    this.address = { address: first.address, port: first.port };
    await Promise.all(Array.from({ length: this.opts.workers - 1 }, () => this.fork()));
    if (this.opts.guacd) {
      this.guacdWatch = setInterval(() => this.tellGuacd(), GUACD_WATCH_MS);
      this.guacdWatch.unref();
    }
    log.info({ workers: this.opts.workers, pids: [...this.members.values()].map((m) => m.worker.process.pid) }, 'workers serving');
  }

  /** Where the metrics listener listens, if any. */
  metricsAddress(): import('node:net').AddressInfo | undefined {
    return this.metrics?.address() as import('node:net').AddressInfo | undefined;
  }

  /** Forks a worker; resolves once it serves. `replacement`: one for a worker that died (replaced in turn if it dies). */
  private fork(replacement = false): Promise<Listening> {
    const worker = cluster.fork();
    const member: Member = { worker, state: 'starting', startedAt: Date.now(), replacement };
    this.members.set(worker.id, member);
    if (this.opts.guacd) this.send(worker, { t: 'gw:guacd', address: this.opts.guacd() });
    return new Promise((resolve, reject) => {
      // Its exit then rejects (onExit), as any death before serving does.
      const timer = setTimeout(() => {
        member.timedOut = true;
        worker.process.kill('SIGKILL');
      }, START_TIMEOUT_MS);
      this.readyWaiters.set(worker.id, {
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  private send(worker: Worker, m: ToWorker): void {
    if (worker.isConnected()) worker.send(m, (err: Error | null) => { if (err) this.opts.logger.debug({ error: err, worker: worker.id }, 'worker message lost'); });
  }

  private tellGuacd(): void {
    const address = this.opts.guacd!();
    const key = JSON.stringify(address);
    if (key === this.guacdTold) return;
    if (this.guacdTold !== undefined) this.opts.logger.info({ guacd: address }, 'guacd moved: telling the workers');
    this.guacdTold = key;
    for (const m of this.members.values()) this.send(m.worker, { t: 'gw:guacd', address });
  }

  private onMessage(worker: Worker, m: ToPrimary): void {
    const member = this.members.get(worker.id);
    switch (m.t) {
      case 'gw:ready': {
        if (!member) return;
        member.state = 'serving';
        member.gateway = m.gateway;
        member.privatePort = m.privatePort;
        this.announcePeers();
        this.opts.logger.info({ worker: worker.id, pid: worker.process.pid, gateway: m.gateway }, 'worker serving');
        this.readyWaiters.get(worker.id)?.resolve({ address: m.address, port: m.port });
        this.readyWaiters.delete(worker.id);
        this.quickDeaths = 0;
        this.flushCloseOuts();
        return;
      }
      case 'gw:ended':
        if (this.closeOuts.delete(m.gateway)) {
          this.opts.logger.info({ gateway: m.gateway, sessions: m.sessions }, 'history: the dead worker\'s sessions are ended');
        }
        return;
      case 'gw:metrics':
        this.metricsWaiters.get(m.id)?.(m.metrics);
        return;
      case 'gw:final':
        if (member) void this.retire(member, m.metrics);
        return;
      case 'gw:sum?':
        this.summedMetrics().then(
          (text) => this.send(worker, { t: 'gw:sum', id: m.id, text }),
          (err: unknown) => this.send(worker, { t: 'gw:sum', id: m.id, error: String(err) }),
        );
        return;
    }
  }

  /** Tells every worker where the others take HTTP tunnel requests (on every start and exit). */
  private announcePeers(): void {
    const peers = [...this.members.values()].filter((m) => m.privatePort !== undefined).map((m): [number, number] => [m.worker.id, m.privatePort!]);
    for (const m of this.members.values()) this.send(m.worker, { t: 'gw:peers', peers });
  }

  /** Has a serving worker end the open sessions of dead ones. */
  private flushCloseOuts(): void {
    if (this.closeOuts.size === 0 || this.stopping) return;
    const live = [...this.members.values()].find((m) => m.state === 'serving');
    if (!live) return; // the next worker to serve does it
    for (const gateway of this.closeOuts) this.send(live.worker, { t: 'gw:end-sessions', gateway });
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const member = this.members.get(worker.id);
    this.members.delete(worker.id);
    const waiting = this.readyWaiters.get(worker.id);
    this.readyWaiters.delete(worker.id);
    if (!member) return;
    this.announcePeers();
    const log = this.opts.logger;
    if (member.state === 'draining' && code === 0) {
      log.info({ worker: worker.id, pid: worker.process.pid }, 'worker drained and exited');
      return;
    }
    waiting?.reject(new Error(member.timedOut
      ? `worker ${worker.id} did not serve within ${START_TIMEOUT_MS / 1000} s`
      : `worker ${worker.id} exited before serving (code ${code}, signal ${signal})`));
    if (this.stopping) return;
    const fields = { worker: worker.id, pid: worker.process.pid, code, signal, gateway: member.gateway };
    if (member.gateway) {
      this.closeOuts.add(member.gateway);
      this.flushCloseOuts();
    }
    if (Date.now() - member.startedAt < QUICK_DEATH_MS) this.quickDeaths++;
    // One that never served is replaced only if it was itself a replacement: a first start that fails is serve's
    // error to report, and a SIGHUP whose new worker fails keeps the old ones.
    if (waiting && !member.replacement) {
      log.error(fields, 'worker died before serving');
      return;
    }
    log.error(fields, 'worker died: replacing it');
    const delay = BACKOFF_MS[Math.min(this.quickDeaths, BACKOFF_MS.length - 1)]!;
    // Not unref'd: with its last worker gone, this timer is what keeps the primary alive to replace it.
    setTimeout(() => {
      if (this.stopping) return;
      this.fork(true).catch((err: unknown) => log.error({ error: err }, 'replacing a worker failed'));
    }, delay);
  }

  /**
   * Replaces the workers one at a time: a new one serves, then an old one
   * drains (takes no connections, exits once its sessions ended). Rolls queue.
   */
  roll(): Promise<void> {
    this.rolling = this.rolling.then(async () => {
      const old = [...this.members.values()].filter((m) => m.state === 'serving');
      this.opts.logger.info({ workers: old.length }, 'SIGHUP: replacing the workers one at a time');
      for (const m of old) {
        if (this.stopping) return;
        try {
          await this.fork();
        } catch (err) {
          this.opts.logger.error({ error: err }, 'SIGHUP: a new worker did not start; keeping the old ones');
          return;
        }
        if (m.state !== 'serving') continue;
        m.state = 'draining';
        this.send(m.worker, { t: 'gw:drain' });
      }
      this.opts.logger.info({}, 'SIGHUP: workers replaced');
    });
    return this.rolling;
  }

  /** Keeps a drained worker's counters and histograms (its gauges, such as sessions active, end with it). */
  private retire(member: Member, metrics: WorkerMetrics): Promise<void> {
    // prom-client's types call `type` an enum; in the JSON it is the name.
    this.retired.push(metrics.filter((metric) => ['counter', 'histogram'].includes(metric.type as unknown as string)));
    member.retired = true; // in the same turn: no scrape counts it twice or not at all
    // Folded into one snapshot (one fold at a time), so a gateway reloaded a thousand times does not keep a thousand.
    this.folding = this.folding.then(async () => {
      const folded = this.retired.length;
      const sum = await AggregatorRegistry.aggregate(this.retired.slice(0, folded)).getMetricsAsJSON() as WorkerMetrics;
      this.retired = [sum, ...this.retired.slice(folded)];
    });
    return this.folding;
  }

  /** The metrics of every connected worker, summed (counters, histograms and gauges alike), and of drained ones. */
  async summedMetrics(): Promise<string> {
    const workers = [...this.members.values()].filter((m) => m.worker.isConnected() && !m.retired);
    const all = await Promise.all(workers.map((m) => new Promise<WorkerMetrics | undefined>((resolve) => {
      const id = this.nextRequest++;
      const timer = setTimeout(() => { this.metricsWaiters.delete(id); resolve(undefined); }, METRICS_TIMEOUT_MS);
      this.metricsWaiters.set(id, (metrics) => { clearTimeout(timer); this.metricsWaiters.delete(id); resolve(metrics); });
      this.send(m.worker, { t: 'gw:metrics?', id });
    })));
    // A worker that did not answer would make the sums drop: no answer rather than a wrong one.
    if (all.some((m) => m === undefined)) throw new Error('a worker did not send its metrics');
    return AggregatorRegistry.aggregate([...all as WorkerMetrics[], ...this.retired]).metrics();
  }

  /** Stops every worker (each ends its sessions and writes their history), then the metrics listener. */
  /**
   * Stops every worker: SIGTERM, or with `drainMs` a `gw:stop` that lets
   * their live sessions run that long first (`serve --drain`).
   */
  async stop(drainMs = 0): Promise<void> {
    this.stopping = true;
    clearInterval(this.guacdWatch);
    const exited = [...this.members.values()].map((m) => new Promise<void>((resolve) => {
      if (m.worker.isDead()) return resolve();
      m.worker.once('exit', () => resolve());
      const wasServing = m.state === 'serving';
      m.state = 'stopping';
      // A worker already draining for SIGHUP ends on its own; one asked to drain-stop gets its drain time on top.
      if (drainMs > 0 && wasServing) this.send(m.worker, { t: 'gw:stop', drainMs });
      else m.worker.process.kill('SIGTERM');
      setTimeout(() => m.worker.process.kill('SIGKILL'), STOP_TIMEOUT_MS + drainMs).unref();
    }));
    await Promise.all(exited);
    await new Promise<void>((resolve) => (this.metrics ? this.metrics.close(() => resolve()) : resolve()));
  }
}
