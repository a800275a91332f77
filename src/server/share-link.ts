/**
 * How a share link is handed out, by the API and the CLI alike: the page's
 * address with the share token in its query (`/?token=…`, relative to the
 * gateway's own address, which only the caller knows behind a proxy).
 */
import type { CreatedShare } from '../registry/types.js';

/** The page path that opens a token. */
export const PAGE_PATH = '/';

/** The answer to a share request: the record, the token (shown once) and the link. */
export function shareAnswer(share: CreatedShare): CreatedShare & { url: string } {
  return { ...share, url: `${PAGE_PATH}?token=${encodeURIComponent(share.token)}` };
}
