/**
 * Where a session meets its recording: the tunnel's `recorder` factory makes
 * one for a target that asks (`Target.record`), and a `required` recording's
 * fault ends the session. Kept out of session.ts, which only calls in here.
 */
import type { GuacError } from '../../protocol/errors.js';
import { TUNNEL } from '../errors.js';
import type { Target } from '../resolver.js';
import type { SessionInfo } from '../types.js';
import type { RecordingResult, RecordSpec, SessionRecorder } from './recorder.js';
import { publish } from '../../diagnostics.js';

/**
 * Makes the recorder of one session (the server's: it picks the file and
 * writes the metadata, listening to the recorder's `finish`).
 */
export type RecorderFactory = (info: Readonly<SessionInfo>, spec: RecordSpec) => SessionRecorder;

/**
 * The recorder of a session whose target asks for one.
 * @param fail ends the session: called on a fault of a `required` recording
 * @throws GuacError `GUAC_RECORDING_UNAVAILABLE` when a `required` recording is asked of a tunnel that has no recorder
 */
export function startRecording(
  factory: RecorderFactory | undefined, info: Readonly<SessionInfo>, target: Target, fail: (err: GuacError) => void,
): SessionRecorder | undefined {
  const spec = target.record;
  if (spec === undefined) return undefined;
  if (factory === undefined) {
    if (spec.policy === 'required') throw TUNNEL.GUAC_RECORDING_UNAVAILABLE();
    return undefined;
  }
  const recorder = factory(info, spec);
  if (recorder.policy === 'required') recorder.once('fault', fail);
  recorder.once('finish', (r: RecordingResult) => publish('recordingEnd', () => ({
    session: info.id, size: r.size, complete: r.complete, policy: recorder.policy, durationMs: r.durationMs,
    diskWaits: recorder.stalls, diskWaitMs: Math.round(recorder.stalledMs),
    ...(r.fault ? { fault: r.fault.code } : {}),
  })));
  return recorder;
}
