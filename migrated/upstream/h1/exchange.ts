import type { Socket } from 'node:net';
import type { ConnectionPool, Lease } from './connection-pool.js';
import type { RequestHead } from './request-head.js';
import { ResponseParser, type ResponseHead } from './response-parser.js';
import { UpstreamResponse } from './upstream-response.js';

/**
 * One request and its response on one pooled connection. The head and body go out in one write (corked) as
 * soon as there is a socket; the response resolves at its head and streams its body with backpressure (the
 * socket pauses while the reader does). After a complete message on a connection both sides keep open, the
 * connection goes back to the pool; after anything else it is destroyed.
 *
 * Failures, as Node's http client reports them: before the head, the promise rejects with the socket's error,
 * with `socket hang up` (ECONNRESET) when the connection closes first, or with what `fail()` was given (a
 * timeout, an abort); after the head, the response is destroyed with that error, or with `aborted` (ECONNRESET)
 * when the connection closes before the body's end.
 */

export interface ExchangeResult {
  response: UpstreamResponse;
  abort: (err?: Error) => void;
}

export const connReset = (message: string): Error => Object.assign(new Error(message), { code: 'ECONNRESET' });

const ignore = () => {};

/** Destroy a connection we have let go of: a late error from it has no one to hear it. */
function drop(socket: Socket): void {
  socket.on('error', ignore);
  socket.destroy();
}

export class Exchange {
  private socket: Socket | null = null;
  private response: UpstreamResponse | null = null;
  private settled = false;
  private finished = false;
  /** The response allows another request on the connection (set at its head). */
  private keepAlive = false;
  private readonly parser: ResponseParser;
  private resolve!: (r: ExchangeResult) => void;
  private reject!: (err: Error) => void;
  readonly result: Promise<ExchangeResult>;
  private readonly onData = (d: Buffer) => this.data(d);
  private readonly onEnd = () => this.closed();
  private readonly onClose = () => this.closed();
  private readonly onError = (err: Error) => this.fail(err);
  private readonly onTimeout = () => this.fail(this.timeoutError());

  constructor(
    private readonly pool: ConnectionPool,
    private readonly key: string,
    private readonly head: RequestHead,
    private readonly body: Buffer,
    private readonly timeoutMs: number,
    private readonly timeoutError: () => Error,
    /** Called once the exchange is over: rejected, or its response closed. */
    private readonly done: () => void,
  ) {
    this.result = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.parser = new ResponseParser({
      head: (h) => this.onHead(h),
      body: (chunk) => {
        if (this.response && !this.response.push(chunk)) this.socket?.pause();
      },
      end: () => this.onMessageEnd(),
    });
  }

  start(lease: Lease): void {
    if ('socket' in lease) this.attach(lease.socket);
    else
      lease.pending.then(
        (socket) => {
          if (this.finished) drop(socket);
          else this.attach(socket);
        },
        (err: Error) => this.fail(err),
      );
  }

  /**
   * Ends the exchange with `err` (timeout, abort, ...): rejects before the head, destroys the response after it
   * (also when its body has been read off the connection but not yet by the reader).
   */
  fail(err: Error): void {
    this.abandon();
    if (!this.settled) {
      this.settled = true;
      this.reject(err);
      this.done();
    } else if (this.response && !this.response.destroyed) this.response.destroy(err);
  }

  private attach(socket: Socket): void {
    this.socket = socket;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    socket.setTimeout(this.timeoutMs, this.onTimeout);
    socket.cork();
    socket.write(this.head.text, 'latin1');
    if (this.head.chunked) {
      if (this.body.length) {
        socket.write(`${this.body.length.toString(16)}\r\n`, 'latin1');
        socket.write(this.body);
        socket.write('\r\n', 'latin1');
      }
      socket.write('0\r\n\r\n', 'latin1');
    } else if (this.body.length) socket.write(this.body);
    socket.uncork();
  }

  private data(d: Buffer): void {
    try {
      this.parser.feed(d);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private onHead(h: ResponseHead): void {
    const response = new UpstreamResponse(h, {
      read: () => this.socket?.resume(),
      // the reader gave up before the end: the connection is in the middle of a message
      destroyed: () => this.abandon(),
    });
    this.response = response;
    response.once('close', this.done);
    this.keepAlive = h.keepAlive;
    this.settled = true;
    this.resolve({ response, abort: (err?: Error) => this.fail(err ?? connReset('aborted')) });
  }

  private onMessageEnd(): void {
    const response = this.response!;
    response.complete = true;
    const socket = this.socket!;
    const reuse = this.keepAlive && this.head.keepAlive && !this.parser.leftover;
    this.finish();
    if (reuse) this.pool.release(this.key, socket);
    else drop(socket);
    response.push(null);
  }

  private closed(): void {
    if (this.finished) return;
    if (this.parser.readsUntilClose && this.parser.finish()) return;
    this.fail(this.settled ? connReset('aborted') : connReset('socket hang up'));
  }

  /** Let go of a connection in the middle of a message (no-op once detached): it cannot serve another request. */
  private abandon(): void {
    if (this.finished) return;
    this.finish();
    if (this.socket) drop(this.socket);
  }

  /** Detach from the socket (once); the exchange itself lasts until the response closes. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const socket = this.socket;
    if (socket) {
      socket.removeListener('data', this.onData);
      socket.removeListener('end', this.onEnd);
      socket.removeListener('close', this.onClose);
      socket.removeListener('error', this.onError);
      socket.setTimeout(0);
      socket.removeListener('timeout', this.onTimeout);
      if (socket.isPaused()) socket.resume();
    }
  }
}
