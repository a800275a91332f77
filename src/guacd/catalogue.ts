/**
 * The connection parameters guacd's protocol plugins accept, per protocol, as
 * guacd 1.0.0 through 1.5.x list them in `args` (guacamole-server
 * `src/protocols/<protocol>/settings.c`, the `GUAC_*_CLIENT_ARGS` arrays; the
 * types from how each value is parsed there). Pure data: the logic is in
 * `params.ts`.
 *
 * Parameters shared by several plugins (terminal, recording, SFTP,
 * Wake-on-LAN) are written once as groups. `since` is the first guacd release
 * listing the name for that protocol; `build` names the configure option
 * without which guacd leaves the parameter out of `args` altogether.
 */

/** guacd releases that changed a parameter list. */
export type GuacdRelease = '1.0.0' | '1.1.0' | '1.2.0' | '1.3.0' | '1.4.0' | '1.5.0' | '1.6.0';

/** How guacd reads a value. */
export type ParamType = 'string' | 'integer' | 'boolean' | 'enum';

/** One parameter as the catalogue describes it. */
export interface ParamDef {
  /** The name guacd lists in `args`, e.g. `private-key`. */
  readonly name: string;
  readonly type: ParamType;
  /** Enum only: the values guacd recognises. */
  readonly values?: readonly string[];
  /** Integer only: inclusive bounds. */
  readonly min?: number;
  readonly max?: number;
  /** A password, key or passphrase: never logged, masked in errors. */
  readonly secret?: boolean;
  /** First guacd release with this parameter (for this protocol). */
  readonly since: GuacdRelease;
  /** guacd build option the parameter depends on, e.g. `ENABLE_SSH_AGENT`. */
  readonly build?: string;
}

const INT_MAX = 2147483647;

type Opts = { since?: GuacdRelease; secret?: true; build?: string; min?: number; max?: number };

function str<const N extends string>(name: N, o: Opts = {}) {
  return { name, type: 'string', since: o.since ?? '1.0.0', ...pick(o) } as const;
}
function int<const N extends string>(name: N, o: Opts = {}) {
  return { name, type: 'integer', since: o.since ?? '1.0.0', min: o.min ?? 0, max: o.max ?? INT_MAX, ...pick(o) } as const;
}
function bool<const N extends string>(name: N, o: Opts = {}) {
  return { name, type: 'boolean', since: o.since ?? '1.0.0', ...pick(o) } as const;
}
function oneOf<const N extends string, const V extends readonly string[]>(name: N, values: V, o: Opts = {}) {
  return { name, type: 'enum', values, since: o.since ?? '1.0.0', ...pick(o) } as const;
}
function pick(o: Opts): { secret?: true; build?: string } {
  const out: { secret?: true; build?: string } = {};
  if (o.secret) out.secret = true;
  if (o.build) out.build = o.build;
  return out;
}

/** A TCP port. guacd reads ssh/telnet ports as service strings; we insist on numbers. */
const port = <const N extends string>(name: N, o: Opts = {}) => int(name, { min: 1, max: 65535, ...o });
const secret = <const N extends string>(name: N, o: Opts = {}) => str(name, { secret: true, ...o });

const CLIPBOARD = [bool('disable-copy', { since: '1.2.0' }), bool('disable-paste', { since: '1.2.0' })] as const;

const TERMINAL = [
  str('font-name'),
  int('font-size', { min: 1 }),
  str('color-scheme'),
  str('typescript-path'),
  str('typescript-name'),
  bool('create-typescript-path'),
  bool('read-only'),
  int('backspace'),
  int('scrollback', { since: '1.1.0' }),
  ...CLIPBOARD,
] as const;

const RECORDING = [
  str('recording-path'),
  str('recording-name'),
  bool('recording-exclude-output'),
  bool('recording-exclude-mouse'),
  bool('recording-include-keys'),
  bool('create-recording-path'),
] as const;

const WOL = [
  bool('wol-send-packet', { since: '1.2.0' }),
  str('wol-mac-addr', { since: '1.2.0' }),
  str('wol-broadcast-addr', { since: '1.2.0' }),
  port('wol-udp-port', { since: '1.4.0' }),
  int('wol-wait-time', { since: '1.2.0' }),
] as const;

/** SFTP beside a graphical session; guacd leaves it out unless built with libssh2. */
const SSH_BUILD = { build: 'ENABLE_COMMON_SSH' } as const;
const SFTP_SIDECAR = [
  bool('enable-sftp', SSH_BUILD),
  str('sftp-hostname', SSH_BUILD),
  str('sftp-host-key', SSH_BUILD),
  port('sftp-port', SSH_BUILD),
  str('sftp-username', SSH_BUILD),
  secret('sftp-password', SSH_BUILD),
  secret('sftp-private-key', SSH_BUILD),
  secret('sftp-passphrase', SSH_BUILD),
  str('sftp-directory', SSH_BUILD),
  str('sftp-root-directory', SSH_BUILD),
  int('sftp-server-alive-interval', SSH_BUILD),
  bool('sftp-disable-download', { ...SSH_BUILD, since: '1.2.0' }),
  bool('sftp-disable-upload', { ...SSH_BUILD, since: '1.2.0' }),
] as const;

/** Raises `since` to the release that introduced the protocol itself. */
function introducedIn<const L extends readonly ParamDef[]>(release: GuacdRelease, list: L): L {
  const rank = (r: GuacdRelease) => Number(r.split('.')[1]);
  return list.map((d) => (rank(d.since) < rank(release) ? { ...d, since: release } : d)) as unknown as L;
}

const SSH = [
  str('hostname'),
  str('host-key'),
  port('port'),
  str('username'),
  secret('password'),
  secret('private-key'),
  secret('passphrase'),
  bool('enable-agent', { build: 'ENABLE_SSH_AGENT' }),
  str('command'),
  int('server-alive-interval'),
  str('terminal-type'),
  str('locale', { since: '1.1.0' }),
  str('timezone', { since: '1.1.0' }),
  bool('enable-sftp'),
  str('sftp-root-directory'),
  bool('sftp-disable-download', { since: '1.2.0' }),
  bool('sftp-disable-upload', { since: '1.2.0' }),
  ...TERMINAL,
  ...RECORDING,
  ...WOL,
] as const;

const TELNET = [
  str('hostname'),
  port('port'),
  str('username'),
  str('username-regex'),
  secret('password'),
  str('password-regex'),
  str('login-success-regex', { since: '1.1.0' }),
  str('login-failure-regex', { since: '1.1.0' }),
  str('terminal-type'),
  ...TERMINAL,
  ...RECORDING,
  ...WOL,
] as const;

const KUBERNETES = introducedIn('1.1.0', [
  str('hostname'),
  port('port'),
  str('namespace'),
  str('pod'),
  str('container'),
  str('exec-command', { since: '1.4.0' }),
  bool('use-ssl'),
  str('client-cert'),
  secret('client-key'),
  str('ca-cert'),
  bool('ignore-cert'),
  ...TERMINAL,
  ...RECORDING,
] as const);

const VNC = [
  str('hostname'),
  port('port'),
  bool('read-only'),
  str('encodings'),
  str('username', { since: '1.2.0' }),
  secret('password'),
  bool('swap-red-blue'),
  int('color-depth'),
  oneOf('cursor', ['local', 'remote']),
  int('autoretry'),
  oneOf('clipboard-encoding', ['ISO8859-1', 'UTF-8', 'UTF-16', 'CP1252']),
  str('dest-host', { build: 'ENABLE_VNC_REPEATER' }),
  port('dest-port', { build: 'ENABLE_VNC_REPEATER' }),
  bool('enable-audio', { build: 'ENABLE_PULSE' }),
  str('audio-servername', { build: 'ENABLE_PULSE' }),
  bool('reverse-connect', { build: 'ENABLE_VNC_LISTEN' }),
  int('listen-timeout', { build: 'ENABLE_VNC_LISTEN' }),
  bool('force-lossless', { since: '1.4.0' }),
  // 1.6.0 resizes the VNC desktop to the browser's size (when the server
  // supports it) unless told not to.
  bool('disable-display-resize', { since: '1.6.0' }),
  ...CLIPBOARD,
  ...SFTP_SIDECAR,
  ...RECORDING,
  ...WOL,
] as const;

/** RDP keyboard layouts (guacd `src/protocols/rdp/keymaps/`; `no-no` from 1.4.0, `pl-pl` from 1.5.0). */
export const RDP_LAYOUTS = [
  'da-dk-qwerty', 'de-ch-qwertz', 'de-de-qwertz', 'en-gb-qwerty', 'en-us-qwerty', 'es-es-qwerty',
  'es-latam-qwerty', 'failsafe', 'fr-be-azerty', 'fr-ch-qwertz', 'fr-fr-azerty', 'hu-hu-qwertz',
  'it-it-qwerty', 'ja-jp-qwerty', 'no-no-qwerty', 'pl-pl-qwerty', 'pt-br-qwerty', 'sv-se-qwerty',
  'tr-tr-qwerty',
] as const;

const RDP = [
  str('hostname'),
  port('port'),
  str('domain'),
  str('username'),
  secret('password'),
  int('width'),
  int('height'),
  int('dpi'),
  str('initial-program'),
  int('color-depth'),
  bool('disable-audio'),
  bool('enable-printing'),
  str('printer-name'),
  bool('enable-drive'),
  str('drive-name'),
  str('drive-path'),
  bool('create-drive-path'),
  bool('disable-download', { since: '1.2.0' }),
  bool('disable-upload', { since: '1.2.0' }),
  bool('console'),
  bool('console-audio'),
  oneOf('server-layout', RDP_LAYOUTS),
  oneOf('security', ['any', 'nla', 'nla-ext', 'tls', 'vmconnect', 'rdp']),
  bool('ignore-cert'),
  bool('disable-auth'),
  str('remote-app'),
  str('remote-app-dir'),
  str('remote-app-args'),
  str('static-channels'),
  str('client-name'),
  bool('enable-wallpaper'),
  bool('enable-theming'),
  bool('enable-font-smoothing'),
  bool('enable-full-window-drag'),
  bool('enable-desktop-composition'),
  bool('enable-menu-animations'),
  bool('disable-bitmap-caching'),
  bool('disable-offscreen-caching'),
  bool('disable-glyph-caching'),
  int('preconnection-id'),
  str('preconnection-blob'),
  str('timezone', { since: '1.1.0' }),
  oneOf('resize-method', ['display-update', 'reconnect']),
  bool('enable-audio-input'),
  bool('enable-touch', { since: '1.4.0' }),
  bool('read-only'),
  str('gateway-hostname'),
  port('gateway-port'),
  str('gateway-domain'),
  str('gateway-username'),
  secret('gateway-password'),
  str('load-balance-info'),
  oneOf('normalize-clipboard', ['preserve', 'unix', 'windows'], { since: '1.4.0' }),
  bool('force-lossless', { since: '1.4.0' }),
  ...CLIPBOARD,
  ...SFTP_SIDECAR,
  ...RECORDING,
  bool('recording-exclude-touch', { since: '1.4.0' }),
  ...WOL,
] as const;

/** The catalogue: every parameter of every protocol. */
export const CATALOGUE = {
  ssh: SSH,
  vnc: VNC,
  rdp: RDP,
  telnet: TELNET,
  kubernetes: KUBERNETES,
} as const satisfies Record<string, readonly ParamDef[]>;
