/**
 * Error codes only the server raises (admin API, JSON bodies, the page's share
 * control, the guacd it starts). The registry's codes it answers with are in
 * registry/errors.ts.
 */
import { defineErrors } from '../protocol/errors.js';

/** The server's codes: status, the message when every site says the same, and the docs line otherwise. */
export const SERVER = defineErrors({
  /** An admin API path that names no endpoint. */
  GUAC_API_NOT_FOUND: { status: 'RESOURCE_NOT_FOUND', message: 'No such API endpoint.' },
  /** A method the endpoint does not take (the answer says which it does). */
  GUAC_METHOD_NOT_ALLOWED: { status: 'UNSUPPORTED', doc: 'Method not allowed here; use ….' },
  /** A JSON request body over its limit. */
  GUAC_BODY_TOO_LARGE: { status: 'CLIENT_OVERRUN', doc: 'The request body exceeds … bytes.' },
  /** A request body that fails mid-way. */
  GUAC_BODY_UNREADABLE: { status: 'CLIENT_BAD_REQUEST', message: 'The request body could not be read.' },
  /** A request body that is not declared JSON. */
  GUAC_CONTENT_TYPE: { status: 'CLIENT_BAD_TYPE', message: 'The request body must be JSON (Content-Type: application/json).' },
  /** A request body that is not a JSON object. */
  GUAC_JSON_INVALID: { status: 'CLIENT_BAD_REQUEST', doc: 'The request body is not valid UTF-8 JSON.' },
  /** Revoking a grant the user does not hold. */
  GUAC_GRANT_NOT_FOUND: { status: 'RESOURCE_NOT_FOUND', doc: 'User … has no grant on this connection.' },
  /** The page's share control used with a credential that may not share the session. */
  GUAC_SHARE_NOT_ALLOWED: { status: 'CLIENT_FORBIDDEN', message: 'This session may not be shared with this credential.' },
  /** A page made share links faster than `SHARE_LINKS_PER_MINUTE`. */
  GUAC_SHARE_RATE: { status: 'CLIENT_TOO_MANY', message: 'Too many share links were made with this link; wait a minute and try again.' },
  /** A path other than /metrics on the metrics listener. */
  GUAC_METRICS_NOT_FOUND: { status: 'RESOURCE_NOT_FOUND', message: 'Only /metrics is served here.' },
  /** The workers' metrics could not be gathered (a worker did not answer in time). */
  GUAC_METRICS_UNAVAILABLE: { status: 'SERVER_BUSY', message: 'The metrics could not be gathered; try again.' },
  /** The guacd the server starts exits or stays deaf. */
  GUAC_GUACD_START: { status: 'UPSTREAM_UNAVAILABLE', doc: 'guacd (…) did not start: ….' },
});
