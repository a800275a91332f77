/**
 * The Guacamole status table. Each status carries three numbers: the
 * Guacamole code sent in `error` instructions and websocket close reasons,
 * the HTTP status used by the HTTP tunnel and admin API, and the websocket
 * close code (the mapping guacamole-client's Java `GuacamoleStatus` uses, so
 * guacamole-common-js reacts the same way to us as to the Java servlet).
 */

/** One row of the status table. */
export interface StatusInfo {
  /** Stable symbolic name, e.g. `UPSTREAM_TIMEOUT`. */
  readonly name: StatusName;
  /** Guacamole protocol status code, e.g. `0x0202`. */
  readonly guac: number;
  /** HTTP status code for HTTP answers. */
  readonly http: number;
  /** WebSocket close code. */
  readonly ws: number;
  /** Human explanation, safe to show to an end user. */
  readonly message: string;
}

const table = {
  SUCCESS: [0x0000, 200, 1000, 'The operation succeeded.'],
  UNSUPPORTED: [0x0100, 501, 1011, 'The requested operation is unsupported.'],
  SERVER_ERROR: [0x0200, 500, 1011, 'An internal error occurred in the gateway.'],
  SERVER_BUSY: [0x0201, 503, 1008, 'The gateway is too busy to handle the request.'],
  UPSTREAM_TIMEOUT: [0x0202, 504, 1011, 'The remote desktop server is not responding.'],
  UPSTREAM_ERROR: [0x0203, 502, 1011, 'The remote desktop server reported an error.'],
  RESOURCE_NOT_FOUND: [0x0204, 404, 1002, 'The requested resource does not exist.'],
  RESOURCE_CONFLICT: [0x0205, 409, 1008, 'The requested resource is already in use.'],
  RESOURCE_CLOSED: [0x0206, 404, 1002, 'The requested resource is closed.'],
  UPSTREAM_NOT_FOUND: [0x0207, 502, 1011, 'The remote desktop server could not be found.'],
  UPSTREAM_UNAVAILABLE: [0x0208, 502, 1011, 'The remote desktop server is unavailable.'],
  SESSION_CONFLICT: [0x0209, 409, 1008, 'The session ended because it conflicted with another session.'],
  SESSION_TIMEOUT: [0x020a, 408, 1002, 'The session ended because it was inactive.'],
  SESSION_CLOSED: [0x020b, 404, 1002, 'The session was forcibly closed.'],
  CLIENT_BAD_REQUEST: [0x0300, 400, 1002, 'The request was malformed.'],
  CLIENT_UNAUTHORIZED: [0x0301, 403, 1008, 'Authentication is required or was refused.'],
  CLIENT_FORBIDDEN: [0x0303, 403, 1008, 'Access is denied.'],
  CLIENT_TIMEOUT: [0x0308, 408, 1002, 'The client took too long to respond.'],
  CLIENT_OVERRUN: [0x030d, 413, 1009, 'The client sent too much data.'],
  CLIENT_BAD_TYPE: [0x030f, 415, 1003, 'The client sent data of an unsupported type.'],
  CLIENT_TOO_MANY: [0x031d, 429, 1008, 'The client is already using too many resources.'],
} as const satisfies Record<string, readonly [number, number, number, string]>;

/** Symbolic names of every status. */
export type StatusName = keyof typeof table;

/** Every status by name. */
export const STATUS: { readonly [K in StatusName]: StatusInfo } = Object.freeze(
  Object.fromEntries(
    (Object.keys(table) as StatusName[]).map((name) => {
      const [guac, http, ws, message] = table[name];
      return [name, Object.freeze({ name, guac, http, ws, message })];
    }),
  ) as { [K in StatusName]: StatusInfo },
);

const byCode = new Map<number, StatusInfo>(Object.values(STATUS).map((s) => [s.guac, s]));

/**
 * Looks a status up by its Guacamole code.
 * Unknown codes fall back to the class they belong to (0x02xx server, 0x03xx
 * client), as guacamole-common-js does, so a newer guacd's codes still map.
 */
export function statusFromCode(code: number): StatusInfo {
  const exact = byCode.get(code);
  if (exact) return exact;
  if (code >= 0x0300 && code <= 0x03ff) return STATUS.CLIENT_BAD_REQUEST;
  if (code >= 0x0100 && code <= 0x01ff) return STATUS.UNSUPPORTED;
  return STATUS.SERVER_ERROR;
}

/** True if the code is one of the table's own (not a fallback). */
export function isKnownStatusCode(code: number): boolean {
  return byCode.has(code);
}
