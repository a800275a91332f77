/**
 * The standalone page, `/?token=TOKEN[&tunnel=URL]`: the embed module
 * mounted on the whole window. The state is mirrored on
 * `document.body.dataset.state` and `data-status-code` for tests and for
 * pages that frame this one.
 */
import { formatCode, mount } from './embed.js';

const params = new URLSearchParams(location.search);
const app = document.getElementById('app') ?? document.body;
const baseTitle = document.title;

const handle = mount(app, {
  token: params.get('token') ?? '',
  tunnelUrl: sameHostTunnel(params.get('tunnel')) ?? app.dataset.tunnel ?? document.body.dataset.tunnel,
  // The page links app.css, which already carries the client's styles.
  injectStylesheet: false,
  onStateChange(state, status) {
    document.body.dataset.state = state;
    if (status.code !== undefined) document.body.dataset.statusCode = formatCode(status.code);
    else delete document.body.dataset.statusCode;
    document.title = state === 'connected' ? baseTitle : `${status.title} · ${baseTitle}`;
  },
});
handle.focus();


/**
 * A `?tunnel=` override may only point at this page's own host: a link to
 * the gateway must not be able to send keystrokes (or the token) elsewhere.
 * Other hosts are set by whoever serves the HTML (`data-tunnel`) or by a host
 * page through `mount()`.
 */
function sameHostTunnel(value: string | null): string | undefined {
  if (!value) return undefined;
  try {
    return new URL(value, location.href).host === location.host ? value : undefined;
  } catch {
    return undefined;
  }
}
