/**
 * "Someone joined / left" for guacd versions that do not say it: guacd 1.5
 * and later send `msg,<id>,<user>,<name>` to the owner themselves; 1.3 says
 * nothing, so for the joins this gateway brokers it sends the owner's page
 * the same instruction, only when the joiner's guacd predates `msg` (never
 * twice). The owner is the live session here that opened the connection
 * the joiner joined.
 */
import { encode } from '../protocol/encoder.js';
import { CAPABILITIES, compareVersions } from '../guacd/versions.js';
import type { SessionHandle, SessionInfo } from '../tunnel/types.js';

/** libguac's `GUAC_MESSAGE_USER_JOINED` / `_LEFT`. */
const USER_JOINED = 0x0001;
const USER_LEFT = 0x0002;

/** Whether guacd already tells the owner (protocol 1.5.0 and later), or we cannot tell. */
function guacdSaysItself(info: SessionInfo): boolean {
  try {
    return info.guacdProtocol === undefined || compareVersions(info.guacdProtocol, CAPABILITIES.MSG_INSTRUCTION) >= 0;
  } catch {
    return true;
  }
}

/** `joined(info)` from `onSessionStart`, `left(record)` from `onSessionEnd`. */
export function joinNotices(sessions: () => Iterable<SessionHandle>): { joined(info: SessionInfo): void; left(info: SessionInfo): void } {
  const tell = (info: SessionInfo, id: number): void => {
    if (info.join === undefined || info.guacdConnectionId === undefined || guacdSaysItself(info)) return;
    const notice = encode('msg', id, info.id, info.user ?? '');
    for (const s of sessions()) {
      if (s.info.join === undefined && s.info.guacdConnectionId === info.join) s.sendInternal(notice);
    }
  };
  return { joined: (info) => tell(info, USER_JOINED), left: (info) => tell(info, USER_LEFT) };
}
