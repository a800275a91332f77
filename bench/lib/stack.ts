/**
 * Brings up, for one measurement, a stand-in guacd and a gateway each in its
 * own process: client (the calling suite) → gateway process → stand-in process.
 */
import { startChild, modulePath, type ChildPeer } from './proc.js';
import type { GatewayKind, Upstream } from './gateways.js';
import type { StandInInit, StandInInfo } from '../procs/standin.js';
import type { GatewayInit, GatewayInfo, MemSample } from '../procs/gateway.js';
import type { StandInStats } from './standin.js';

const STANDIN = modulePath(import.meta.url, '../procs/standin.js');
const GATEWAY = modulePath(import.meta.url, '../procs/gateway.js');

/** Stand-in target parameters (the stand-in accepts anything ssh-like). */
export const STANDIN_TARGET = { protocol: 'ssh' as const, params: { hostname: '127.0.0.1', port: 22 } };

export interface Stack {
  url: string;
  standIn: ChildPeer<StandInInfo>;
  gateway: ChildPeer<GatewayInfo> | undefined;
  mem(gc?: boolean): Promise<MemSample>;
  standInStats(): Promise<StandInStats>;
  stop(): Promise<void>;
}

export function startStandIn(init: StandInInit): Promise<ChildPeer<StandInInfo>> {
  return startChild<StandInInfo>(STANDIN, init, { raiseFdLimit: true });
}

export function startGatewayProc(kind: GatewayKind, upstream: Upstream): Promise<ChildPeer<GatewayInfo>> {
  const init: GatewayInit = { kind, upstream };
  // guacamole-lite prints a line per session on stdout: keep the table clean.
  return startChild<GatewayInfo>(GATEWAY, init, { raiseFdLimit: true, stdout: 'ignore' });
}

/** Stand-in plus gateway `kind`. */
export async function startStack(kind: GatewayKind, standInInit: StandInInit): Promise<Stack> {
  const standIn = await startStandIn(standInInit);
  let gateway: ChildPeer<GatewayInfo>;
  try {
    gateway = await startGatewayProc(kind, { host: '127.0.0.1', port: standIn.info.port, ...STANDIN_TARGET });
  } catch (err) {
    await standIn.stop();
    throw err;
  }
  return {
    url: gateway.info.url,
    standIn,
    gateway,
    mem: (gc = false) => gateway.call<MemSample>('mem', { gc }, 30000),
    standInStats: () => standIn.call<StandInStats>('stats', undefined, 10000),
    async stop() {
      await Promise.allSettled([gateway.stop(), standIn.stop()]);
    },
  };
}
