/**
 * Reads guacd's byte stream as instructions, keeping each one's raw bytes so
 * the stream can be handed over, untouched, to a relay (`detach`).
 *
 * The splitter frames instructions and enforces the protocol limits; values
 * are decoded only when someone asks (`decode`). The queue is bounded: past
 * `highWater` instructions the socket is paused, so a slow consumer slows
 * guacd instead of filling memory.
 */
import type net from 'node:net';
import { GuacError } from '../protocol/errors.js';
import { Parser } from '../protocol/parser.js';
import { InstructionSplitter } from '../protocol/splitter.js';
import { guacdError, socketError } from './errors.js';

/** A decoded instruction. */
export interface Instruction {
  opcode: string;
  args: string[];
}

/** A framed, undecoded instruction. */
export interface RawInstruction {
  opcode: string;
  /** The instruction's bytes, `;` included. */
  raw: Buffer;
}

/** Gets each instruction as it arrives; returning true keeps it out of the queue. */
export type Interceptor = (instruction: RawInstruction) => boolean;

type Waiter = { resolve: (v: RawInstruction | null) => void; reject: (e: GuacError) => void };

/** @internal */
export class InstructionReader {
  private readonly splitter = new InstructionSplitter();
  private readonly decoder = new Parser();
  private readonly queue: RawInstruction[] = [];
  private head = 0;
  /** Bytes of the incomplete instruction the splitter holds. */
  private tail: Buffer[] = [];
  private tailLength = 0;
  private waiters: Waiter[] = [];
  private ended = false;
  private failure: GuacError | undefined;
  private paused = false;
  private attached = true;
  /**
   * Every byte received, kept until someone reads the instructions after
   * `ready` (`release`) or takes the stream (`detach`), so that a relay gets
   * what followed `ready` untouched, however it parses.
   */
  private log: Buffer[] | undefined = [];
  /** Bytes of every instruction framed so far. */
  private framedBytes = 0;
  /** Where `ready` ended in the stream, once {@link hold} was called. */
  private handoffAt: number | undefined;
  /** After `ready`: instructions framed but not yet shown to anyone. */
  private held: RawInstruction[] | undefined;
  /** A failure met while holding, reported on release. */
  private heldFailure: GuacError | undefined;

  private readonly onData = (chunk: Buffer) => this.push(chunk);
  private readonly onEnd = () => this.end();
  private readonly onError = (err: Error) => this.stop(socketError(err, this.where));

  /**
   * @param socket the connected socket
   * @param where the address, for messages
   * @param intercept sees every instruction first
   * @param highWater queued instructions before the socket is paused
   * @param onFailure told when the stream itself fails (bad data, socket error)
   */
  constructor(
    private readonly socket: net.Socket,
    private readonly where: string,
    private readonly intercept: Interceptor,
    private readonly highWater = 1024,
    private readonly onFailure: (err: GuacError) => void = () => {},
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** The error the stream stopped on, if any. */
  get error(): GuacError | undefined {
    return this.failure;
  }

  /** True between {@link hold} and {@link release}. */
  get holding(): boolean {
    return this.held !== undefined;
  }

  /** guacd ended the stream, or it failed (a relay then has nothing more to read). */
  get over(): boolean {
    return this.ended || this.failure !== undefined || this.heldFailure !== undefined;
  }

  /**
   * Called from the interceptor as it sees `ready`: the instructions after it
   * belong to whoever uses the connection next, so they are neither
   * intercepted nor queued, and a failure they cause is not reported, until
   * {@link release} (a reader) or {@link detach} (a relay, which gets them as
   * bytes).
   */
  hold(): void {
    this.handoffAt = this.framedBytes;
    this.held = [];
  }

  /** Ends {@link hold}: what was held is intercepted and queued as it would have been. */
  release(): void {
    this.log = undefined;
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    for (const item of held) this.accept(item);
    if (this.heldFailure) this.stop(this.heldFailure);
    else if (this.ended) this.flushWaiters();
  }

  /** Instructions waiting to be read. */
  get size(): number {
    return this.queue.length - this.head;
  }

  /**
   * The next instruction; `null` once guacd has closed and the queue is
   * empty. Rejects with the stream's error once the queue is empty.
   */
  next(): Promise<RawInstruction | null> {
    if (this.size > 0) return Promise.resolve(this.shift());
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Withdraws a pending `next()` (an aborted wait), rejecting it with `err`. */
  cancel(err: GuacError): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }

  /** Decodes a raw instruction's values. */
  decode(instruction: RawInstruction): Instruction {
    let out: Instruction | undefined;
    // A framed instruction already passed the same limits: this cannot fail.
    this.decoder.push(instruction.raw, (opcode, args) => (out = { opcode, args }));
    return out ?? { opcode: instruction.opcode, args: [] };
  }

  /** Stops the stream with an error; queued instructions are still delivered first. */
  fail(err: GuacError): void {
    if (this.failure || this.ended) return;
    this.failure = err;
    this.flushWaiters();
  }

  /**
   * Stops reading and returns what was read but not consumed, as bytes: the
   * queued instructions, then the incomplete tail; while holding, every byte
   * after `ready` exactly as received (invalid data included). The socket is
   * left paused with none of our listeners.
   */
  detach(): Buffer {
    this.socket.pause();
    this.attached = false;
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('end', this.onEnd);
    this.socket.removeListener('close', this.onEnd);
    this.socket.removeListener('error', this.onError);
    const parts: Buffer[] = [];
    if (this.log && this.handoffAt !== undefined) {
      parts.push(Buffer.concat(this.log).subarray(this.handoffAt));
    } else {
      for (let i = this.head; i < this.queue.length; i++) parts.push(this.queue[i].raw);
      parts.push(...this.tail);
    }
    this.log = undefined;
    this.held = undefined;
    this.queue.length = 0;
    this.head = 0;
    this.tail = [];
    this.tailLength = 0;
    // Only a waiting next() needs the error (and its stack, costly at every session's hand-over).
    if (this.waiters.length > 0) this.cancel(guacdError('GUAC_CLIENT_CLOSED', 'The client was detached.'));
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  private shift(): RawInstruction {
    const item = this.queue[this.head];
    this.queue[this.head++] = undefined as unknown as RawInstruction;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.paused && this.size <= this.highWater >> 1 && this.attached) {
      this.paused = false;
      this.socket.resume();
    }
    return item;
  }

  private push(chunk: Buffer): void {
    if (this.failure || this.ended || this.heldFailure) return;
    this.log?.push(chunk);
    const before = this.tailLength;
    const out = this.splitter.push(chunk, (opcode, raw) => {
      if (this.failure) return;
      this.framedBytes += raw.length;
      // Copy: the view may keep a large socket chunk alive long after.
      const item = { opcode, raw: Buffer.from(raw) };
      if (this.held) this.held.push(item);
      else this.accept(item);
    });
    if (out instanceof GuacError) {
      // The instructions completed before the bad byte were handled above.
      this.stop(guacdError('GUAC_GUACD_PROTOCOL', `guacd sent invalid protocol data: ${out.message}`, out));
      return;
    }
    // What the splitter holds back is everything after the last complete instruction.
    if (out.length >= before) {
      const rest = chunk.subarray(out.length - before);
      this.tail = rest.length ? [Buffer.from(rest)] : [];
      this.tailLength = rest.length;
    } else {
      this.tail.push(Buffer.from(chunk));
      this.tailLength += chunk.length;
    }
    if (!this.paused && this.size >= this.highWater) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Intercepts or queues one instruction. */
  private accept(item: RawInstruction): void {
    if (this.failure) return;
    if (!this.intercept(item)) {
      this.queue.push(item);
      this.deliver();
    }
  }

  private stop(err: GuacError): void {
    if (this.failure || this.ended) return;
    if (this.held) {
      this.heldFailure ??= err;
      return;
    }
    this.fail(err);
    this.onFailure(err);
  }

  private deliver(): void {
    while (this.waiters.length > 0 && this.size > 0) {
      const w = this.waiters.shift() as Waiter;
      w.resolve(this.shift());
    }
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.held) this.flushWaiters();
  }

  private flushWaiters(): void {
    this.deliver();
    if (this.size > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      if (this.failure) w.reject(this.failure);
      else w.resolve(null);
    }
  }
}
