// One AdmissionReview (admission.k8s.io/v1) in, the answer out. Defined here: no client library
// ships these types, and the webhook needs only the fields below.
//
// What each kind of input gets, and why:
// - a body we cannot answer (not JSON, not an AdmissionReview v1, no request.uid, too big): HTTP
//   400. A response must echo request.uid, so there is no valid AdmissionReview to send; the API
//   server counts a non-200 as a failed call and applies the webhook's failurePolicy.
// - a review we can answer but not use (not a Pod CREATE, a pod that does not decode): allowed,
//   no patch, and a warning that kubectl shows. Sidekick never blocks a pod it cannot read.
// - a pod whose injection fails (an invalid sidekick.dev/* annotation, a clashing name):
//   denied, with the reason. The pod asked for Sidekick; running it without (say, without TLS)
//   would be worse than the error its owner sees in the ReplicaSet's events.
import { defaultOptions, InjectError, type InjectOptions } from '../inject/inject-options.ts';
import { injectPod } from '../inject/inject-pod.ts';
import { diff, type PatchOp } from '../inject/json-diff.ts';

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource?: { group: string; version: string; resource: string };
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  namespace?: string;
  name?: string;
  object?: unknown;
  dryRun?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** base64 of the JSON Patch. */
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string };
}

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

export interface WebhookOptions {
  inject: InjectOptions;
  /** Namespaces never injected, whatever the selectors let through. */
  excludeNamespaces: string[];
  /** Label of the webhook's own pods: never injected. */
  selfLabel: [string, string];
}

export function defaultWebhookOptions(env: NodeJS.ProcessEnv = {}): WebhookOptions {
  return { inject: defaultOptions(env), excludeNamespaces: ['kube-system', 'kube-public', 'kube-node-lease'], selfLabel: ['app.kubernetes.io/name', 'sidekick-webhook'] };
}

export type ReviewResult = 'injected' | 'skipped' | 'denied' | 'unreadable' | 'bad-request';

export interface ReviewAnswer {
  status: 200 | 400;
  result: ReviewResult;
  body: string;
  /** The patch, for logs and tests. */
  ops?: PatchOp[];
  reason?: string;
}

export function reviewAdmission(text: string, options: WebhookOptions): ReviewAnswer {
  let review: unknown;
  try {
    review = JSON.parse(text);
  } catch {
    return badRequest('the body is not JSON');
  }
  if (!isObj(review) || review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') {
    return badRequest('expected an AdmissionReview of apiVersion admission.k8s.io/v1');
  }
  const request = review.request;
  if (!isObj(request) || typeof request.uid !== 'string' || request.uid === '') return badRequest('the AdmissionReview has no request.uid');
  const uid = request.uid;
  const answer = (result: ReviewResult, response: Omit<AdmissionResponse, 'uid'>, reason?: string, ops?: PatchOp[]): ReviewAnswer => ({
    status: 200,
    result,
    body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, ...response } }),
    ...(reason ? { reason } : {}),
    ...(ops ? { ops } : {}),
  });

  const kind = isObj(request.kind) ? request.kind : {};
  if (kind.group !== '' || kind.version !== 'v1' || kind.kind !== 'Pod' || request.operation !== 'CREATE') {
    const what = `${request.operation} of ${kind.group ? `${kind.group}/` : ''}${kind.version}/${kind.kind}`;
    return answer('unreadable', { allowed: true, warnings: [`sidekick webhook: only Pod CREATE is injected; let ${what} through unchanged`] }, what);
  }
  const pod = request.object;
  if (!isObj(pod) || !isObj(pod.spec) || !Array.isArray(pod.spec.containers) || (pod.metadata !== undefined && !isObj(pod.metadata))) {
    return answer('unreadable', { allowed: true, warnings: ['sidekick webhook: the pod does not decode (no spec.containers): not injected'] }, 'pod does not decode');
  }
  const namespace = typeof request.namespace === 'string' ? request.namespace : '';
  if (options.excludeNamespaces.includes(namespace)) return answer('skipped', { allowed: true }, `namespace ${namespace} is excluded`);
  const metadata = (pod.metadata ?? {}) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (metadata.labels?.[options.selfLabel[0]] === options.selfLabel[1]) return answer('skipped', { allowed: true }, 'the webhook\'s own pod');

  const template = { ...(pod.metadata !== undefined ? { metadata: metadata } : {}), spec: pod.spec };
  let injection;
  try {
    injection = injectPod(template, options.inject);
  } catch (err) {
    if (!(err instanceof InjectError)) throw err;
    return answer('denied', { allowed: false, status: { code: 400, message: `sidekick injection failed: ${err.message}` } }, err.message);
  }
  if (injection.skipped) return answer('skipped', { allowed: true }, injection.skipped);
  const ops = diff(template, injection.template);
  const warnings = injection.warnings.map((w) => `sidekick: ${w}`);
  return answer('injected', {
    allowed: true,
    patchType: 'JSONPatch',
    patch: Buffer.from(JSON.stringify(ops)).toString('base64'),
    ...(warnings.length ? { warnings } : {}),
  }, undefined, ops);
}

function badRequest(reason: string): ReviewAnswer {
  return { status: 400, result: 'bad-request', body: `${reason}\n`, reason };
}

function isObj(v: unknown): v is Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
