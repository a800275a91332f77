/**
 * Child entry for one measurement: the orchestrator (bench/run.ts) starts one
 * of these per figure and calls `run` with the suite and its parameters, so
 * every figure gets a clean heap and JIT state.
 */
import { serveChild } from '../lib/proc.js';

export type Suite = 'parser' | 'tunnel' | 'recording' | 'latency' | 'idle' | 'shared' | 'stalled' | 'realstack' | 'realburst' | 'setup' | 'workers' | 'transfer';

export interface MeasureArg {
  suite: Suite;
  params: unknown;
}

async function run(arg: MeasureArg): Promise<unknown> {
  switch (arg.suite) {
    case 'parser': {
      const m = await import('../suites/parser.js');
      return m.measureParser(arg.params as Parameters<typeof m.measureParser>[0]);
    }
    case 'tunnel': {
      const m = await import('../suites/tunnel.js');
      return m.measureTunnel(arg.params as Parameters<typeof m.measureTunnel>[0]);
    }
    case 'recording': {
      const m = await import('../suites/recording.js');
      return m.measureRecording(arg.params as Parameters<typeof m.measureRecording>[0]);
    }
    case 'latency': {
      const m = await import('../suites/latency.js');
      return m.measureLatency(arg.params as Parameters<typeof m.measureLatency>[0]);
    }
    case 'idle':
    case 'shared':
    case 'stalled': {
      const m = await import('../suites/scale.js');
      const params = arg.params as Parameters<typeof m.measureIdle>[0];
      return arg.suite === 'idle' ? m.measureIdle(params) : arg.suite === 'shared' ? m.measureShared(params) : m.measureStalled(params);
    }
    case 'setup': {
      const m = await import('../suites/setup.js');
      return m.measureSetup(arg.params as Parameters<typeof m.measureSetup>[0]);
    }
    case 'realburst': {
      const m = await import('../suites/realstack.js');
      return m.measureRealBurst(arg.params as Parameters<typeof m.measureRealBurst>[0]);
    }
    case 'workers': {
      const m = await import('../suites/workers.js');
      return m.measureWorkers(arg.params as Parameters<typeof m.measureWorkers>[0]);
    }
    case 'transfer': {
      const m = await import('../suites/transfer.js');
      return m.measureTransfer(arg.params as Parameters<typeof m.measureTransfer>[0]);
    }
    case 'realstack': {
      const m = await import('../suites/realstack.js');
      return m.measureRealStack(arg.params as Parameters<typeof m.measureRealStack>[0]);
    }
  }
}

serveChild(async () => ({ handlers: { run: (arg) => run(arg as MeasureArg) } }));
