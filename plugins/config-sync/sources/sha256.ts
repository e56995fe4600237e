// SHA-256 / HMAC-SHA-256 for the S3 client (its `sha256` option), with the one cache SigV4
// lacks: the signer keys its signing-key cache with HMAC(secret key, access key id), computed
// afresh on every request (a third of the signing work of an idle poll). That HMAC, whose key is
// a string and whose message is short, is remembered for the last (key, message) pair; HMAC is
// deterministic, so the answer is the same. Keys given as bytes (the day's signing key) keep
// their KeyObject, so the signature HMAC does not re-import the key each time.
import { createHash, createHmac, createSecretKey, hash, type Hash, type Hmac, type KeyObject } from 'node:crypto';

type SourceData = string | ArrayBuffer | ArrayBufferView;

const keyObjects = new WeakMap<object, KeyObject>();
let remembered: { key: string; message: Buffer; mac: Uint8Array } | undefined;

export class Sha256 {
  private readonly secret: string | Uint8Array | undefined;
  private hash: Hash | Hmac | undefined;
  /** The only update so far, kept until a second one (most SigV4 inputs are one update). */
  private first: string | Uint8Array | undefined;
  private updates = 0;

  constructor(secret?: SourceData) {
    this.secret = secret === undefined || typeof secret === 'string' ? secret : bytes(secret);
  }

  update(data: SourceData, encoding?: 'utf8' | 'ascii' | 'latin1'): void {
    const chunk = typeof data === 'string' ? (encoding && encoding !== 'utf8' ? Buffer.from(data, encoding) : data) : bytes(data);
    if (this.updates++ === 0) {
      this.first = chunk;
      return;
    }
    if (!this.hash) {
      this.hash = this.start();
      this.hash.update(this.first!);
      this.first = undefined;
    }
    this.hash.update(chunk);
  }

  async digest(): Promise<Uint8Array> {
    if (this.hash) return view((this.hash as Hash).copy ? (this.hash as Hash).copy().digest() : this.hash.digest());
    const message = this.first ?? '';
    // One-shot digest: no Hash object to create and finalise (SigV4 hashes its canonical request so).
    if (this.secret === undefined) return view(hash('sha256', message, 'buffer'));
    const memo = typeof this.secret === 'string' && typeof message !== 'string' && message.byteLength <= 128;
    if (memo && remembered?.key === this.secret && remembered.message.equals(message)) return remembered.mac.slice();
    const mac = view(this.start().update(message).digest());
    if (memo) remembered = { key: this.secret as string, message: Buffer.from(message), mac: mac.slice() };
    return mac;
  }

  reset(): void {
    this.hash = this.first = undefined;
    this.updates = 0;
  }

  private start(): Hash | Hmac {
    const secret = this.secret;
    if (secret === undefined) return createHash('sha256');
    if (typeof secret === 'string') return createHmac('sha256', secret);
    let key = keyObjects.get(secret);
    if (!key) keyObjects.set(secret, (key = createSecretKey(secret)));
    return createHmac('sha256', key);
  }
}

function bytes(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  return data instanceof Uint8Array ? data : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

function view(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
