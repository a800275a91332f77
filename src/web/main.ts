/**
 * The standalone page, `/?token=TOKEN`: the embed module mounted on the
 * whole window. The state is mirrored on `document.body.dataset.state` and
 * `data-status-code` for tests and for pages that frame this one.
 *
 * The tunnel is never taken from the page's URL (there is no `?tunnel=`):
 * whoever writes a link would choose where the token, every keystroke and
 * the clipboard go, and even a same-origin path may belong to another
 * application behind the same proxy. The page talks to `tunnel` beside it,
 * or to the `data-tunnel` of the HTML the operator serves; its
 * Content-Security-Policy (`connect-src 'self'`) holds it to its own origin.
 */
import { formatCode, mount } from './embed.js';

const params = new URLSearchParams(location.search);
const app = document.getElementById('app') ?? document.body;
const baseTitle = document.title;

const handle = mount(app, {
  token: params.get('token') ?? '',
  tunnelUrl: app.dataset.tunnel ?? document.body.dataset.tunnel,
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
