/**
 * Session recordings written by the tunnel from the stream it relays, in
 * the format guacenc and guacamole-common-js's `SessionRecording` play.
 */
export { SessionRecorder, RECORD_POLICIES, syncTime, type RecordPolicy, type RecordSpec, type RecordingResult, type SessionRecorderOptions } from './recorder.js';
export { RecordingWriter, recordingFault, type RecordingWriterOptions, type WriteSummary } from './writer.js';
export { startRecording, type RecorderFactory } from './start.js';
