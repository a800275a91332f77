/**
 * The Guacamole protocol layer: status table, error class, encoder, parser
 * and relay splitter. Zero dependencies beyond Node's `buffer`; no sockets.
 */
export { STATUS, statusFromCode, type StatusInfo, type StatusName } from './status.js';
export { GuacError, isGuacError, toGuacError } from './errors.js';
export { encode, encodeElement } from './encoder.js';
export { Parser, GUACD_LIMITS, type ParserLimits, type InstructionHandler } from './parser.js';
export { InstructionSplitter, type BytesHandler, type InstructionSpanHandler, type RawInstructionHandler } from './splitter.js';
export { PARSE_ERRORS, type ParseErrorCode } from './constants.js';
