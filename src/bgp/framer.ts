/**
 * Splits a BGP TCP byte stream into whole messages. Pure: the session feeds it socket chunks and hands
 * each message to decodeMessage(). A bad marker or length is reported as soon as the 19 header bytes are
 * in, without waiting for a body that may never come (or be 64 KiB of garbage).
 */
import { checkHeader } from './codec.ts';
import { Limits, maxMessageLength, type BgpError, type DecodeResult } from './message.ts';

/**
 * Message framer for one connection. Messages that lie inside one chunk are returned as views of it
 * (no copy); only a message spanning chunks is copied, once. Pushed chunks must therefore not be reused
 * by the caller (Node's socket chunks never are). After an error the stream cannot be resynchronized:
 * every later push returns the same error, and messages framed earlier in the failing push are dropped,
 * because the session is being reset anyway.
 */
export class MessageFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Length of the message whose header has been checked and whose body is still arriving. */
  private pending = 0;
  private maxLength: number;
  private failure: BgpError | undefined;

  constructor(opts: { extendedMessages?: boolean } = {}) {
    this.maxLength = maxMessageLength({ extendedMessages: opts.extendedMessages ?? false });
  }

  /** Raises (or lowers) the length limit once RFC 8654 extended messages are negotiated. */
  setExtendedMessages(on: boolean): void {
    this.maxLength = maxMessageLength({ extendedMessages: on });
  }

  /** Bytes held for a message not yet complete. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Adds received bytes; returns the messages completed by them (possibly none) or the framing error. */
  push(chunk: Buffer): DecodeResult<Buffer[]> {
    if (this.failure) return { ok: false, error: this.failure };
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const out: Buffer[] = [];
    for (;;) {
      if (this.pending === 0) {
        if (this.buffered < Limits.HeaderLength) break;
        const h = checkHeader(this.peekHeader(), this.maxLength);
        if (!h.ok) {
          this.failure = h.error;
          this.chunks = [];
          this.buffered = 0;
          return h;
        }
        this.pending = h.value.length;
      }
      if (this.buffered < this.pending) break;
      out.push(this.take(this.pending));
      this.pending = 0;
    }
    return { ok: true, value: out };
  }

  /** The first 19 bytes: a view when the first chunk holds them, else a 19-byte copy. */
  private peekHeader(): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= Limits.HeaderLength) return first.subarray(0, Limits.HeaderLength);
    const h = Buffer.allocUnsafe(Limits.HeaderLength);
    let o = 0;
    for (const c of this.chunks) {
      o += c.copy(h, o, 0, Math.min(c.length, Limits.HeaderLength - o));
      if (o === Limits.HeaderLength) break;
    }
    return h;
  }

  /** Removes and returns the first `n` buffered bytes (n <= buffered). */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first && first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    let used = 0;
    for (const c of this.chunks) {
      const k = Math.min(c.length, n - o);
      c.copy(out, o, 0, k);
      o += k;
      if (k < c.length) {
        this.chunks[used] = c.subarray(k);
        break;
      }
      used++;
      if (o === n) break;
    }
    this.chunks.splice(0, used);
    return out;
  }
}
