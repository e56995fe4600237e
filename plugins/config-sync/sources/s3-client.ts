// The S3 client as config-sync uses it. An idle poll is one ListObjectsV2 every `interval`,
// so the SDK's per-request pipeline is nearly all of the idle cost, and it runs on a cold CPU:
// every middleware that does nothing for this client is taken out of it, and the listing's
// middleware chain is built once (`cacheMiddleware`) instead of on every send.
import { S3Client } from '@aws-sdk/client-s3';
import type { ConfigSyncConfig } from '../config-schema.ts';
import { Sha256 } from './sha256.ts';

export type S3Config = Extract<ConfigSyncConfig['source'], { s3: unknown }>['s3'];

type HandlerOptions = { abortSignal?: AbortSignal } | undefined;
interface RequestHandler {
  handle(request: unknown, options?: HandlerOptions): Promise<unknown>;
}

export class PollingS3Client extends S3Client {
  /**
   * Abort signal of the poll in progress, for commands sent without options. A cached chain
   * cannot take per-call options (the SDK caches only sends that pass none, and the chain keeps
   * the first call's context), so the signal is handed to the HTTP handler here instead.
   * Polls never overlap, so one field is enough.
   */
  pollSignal: AbortSignal | undefined;

  constructor(config: S3Config) {
    super({
      // An S3-compatible store rarely cares about the region, but the SDK insists on one.
      ...(config.region ? { region: config.region } : config.endpoint && !process.env.AWS_REGION ? { region: 'us-east-1' } : {}),
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      forcePathStyle: config.forcePathStyle,
      // The sync loop retries with its own backoff; SDK retries would hide errors and stretch a poll.
      maxAttempts: 1,
      // Nothing is uploaded. Downloads keep the default response checksum validation: they only
      // happen on a change, and a checksum is the one end-to-end check of the bytes published.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      // Sends without options reuse their command's resolved chain (see pollSignal).
      cacheMiddleware: true,
      // Node's SHA-256, plus the signing-key cache lookup the signer recomputes every request.
      sha256: Sha256,
    });
    // The SDK's default signer provider builds a new SignatureV4MultiRegion, from a copy of the
    // whole client config, for every request (0.27 M of 2.0 M instructions of an idle poll). It
    // fixes the signing region and service into the config at its first call and reads nothing
    // else that changes (this client's credentials provider is never replaced), so every
    // instance it builds is the same signer: the first is kept (a failed build is not).
    // Credentials, date and clock skew are still read at every signature.
    const buildSigner = this.config.signer;
    let signer: ReturnType<typeof buildSigner> | undefined;
    this.config.signer = (authScheme) =>
      (signer ??= buildSigner(authScheme).catch((err: unknown) => {
        signer = undefined;
        throw err;
      }));
    const http = this.config.requestHandler as unknown as RequestHandler;
    const handle = http.handle.bind(http);
    http.handle = (request, options) => {
      const signal = this.pollSignal;
      return handle(request, options?.abortSignal || !signal ? options : { ...options, abortSignal: signal });
    };
    const stack = this.middlewareStack;
    // Per-request work that does nothing for this client: the logger middleware filters every
    // input and output for a logger that is never set; recursion detection is for Lambda; there
    // is no body to send with Expect: 100-continue (the plugin only reads); region redirects are
    // only followed with `followRegionRedirects`, which is never set.
    for (const name of ['loggerMiddleware', 'recursionDetectionMiddleware', 'addExpectContinueMiddleware', 'regionRedirectMiddleware', 'regionRedirectEndpointMiddleware']) {
      stack.remove(name);
    }
    // With maxAttempts 1 the retry middleware never retries, yet on every call it takes a retry
    // token and makes a UUID for amz-sdk-invocation-id, and on every failure it classifies the
    // error and throws a fresh "No retry token available". It is replaced by a pass-through of
    // the same name, not removed: the signing middleware is placed relative to it, and without
    // it every send fails ("retryMiddleware is not found when adding httpSigningMiddleware").
    stack.add((next) => next, { name: 'retryMiddleware', step: 'finalizeRequest', priority: 'high', override: true, tags: ['RETRY'] });
    // The SDK recomputes and escapes its user agent on every request (plus an x-amz-user-agent
    // header that is then signed too); the same string, made once, without the per-request
    // feature list ("m/...").
    stack.remove('getUserAgentMiddleware');
    let userAgent: string | undefined;
    stack.add(
      (next) => async (args) => {
        const request = args.request as { headers?: Record<string, string> } | undefined;
        if (request?.headers) request.headers['user-agent'] = userAgent ??= formatUserAgent(await this.config.defaultUserAgentProvider());
        return next(args);
      },
      { step: 'build', priority: 'low', name: 'configSyncUserAgent' },
    );
  }
}

/** The SDK's format: `name/version`, `prefix/name#version`, `api/` names in lower case. */
function formatUserAgent(pairs: Array<[string, string?]>): string {
  return pairs
    .map(([name, version]) => {
      const clean = (name.startsWith('api/') ? name.toLowerCase() : name).replace(/[^!$%&'*+\-.^_`|~\w/]/g, '-');
      const v = version?.replace(/[^!$%&'*+\-.^_`|~\w#]/g, '-');
      return v === undefined ? clean : `${clean}${clean.includes('/') ? '#' : '/'}${v}`;
    })
    .join(' ');
}
