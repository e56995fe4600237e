// `sidekick webhook certs --service NAME --namespace NS`: a CA and a serving certificate for the
// webhook's Service, for clusters without cert-manager. Made with the openssl command (Node can
// sign nothing X.509 itself); run it where openssl is, then load the files into a Secret.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertOptions {
  service: string;
  namespace: string;
  out: string;
  days: number;
}

export interface MadeCerts {
  files: { caCert: string; cert: string; key: string };
  /** base64 of the CA certificate, for the MutatingWebhookConfiguration's clientConfig.caBundle. */
  caBundle: string;
  dnsNames: string[];
}

export function makeCerts(opts: CertOptions): MadeCerts {
  mkdirSync(opts.out, { recursive: true, mode: 0o700 });
  const f = (name: string) => join(opts.out, name);
  const dnsNames = [`${opts.service}.${opts.namespace}.svc`, `${opts.service}.${opts.namespace}.svc.cluster.local`, `${opts.service}.${opts.namespace}`, opts.service];
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', String(opts.days * 2), '-subj', `/CN=${opts.service}.${opts.namespace} webhook CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', ...ec, '-keyout', f('tls.key'), '-out', f('tls.csr'), '-subj', `/CN=${dnsNames[0]}`]);
  writeFileSync(f('tls.ext'), [
    `subjectAltName=${dnsNames.map((d) => `DNS:${d}`).join(',')}`,
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
  ].join('\n'));
  openssl(['x509', '-req', '-in', f('tls.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-set_serial', `0x${randomBytes(16).toString('hex').replace(/^[89a-f]/, '7')}`,
    '-days', String(opts.days), '-extfile', f('tls.ext'), '-out', f('tls.crt')]);
  rmSync(f('tls.csr'));
  rmSync(f('tls.ext'));
  for (const key of ['ca.key', 'tls.key']) chmodSync(f(key), 0o600);
  return { files: { caCert: f('ca.crt'), cert: f('tls.crt'), key: f('tls.key') }, caBundle: readFileSync(f('ca.crt')).toString('base64'), dnsNames };
}

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run openssl: ${r.error.message} (webhook certs needs the openssl command on PATH)`);
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.trim()}`);
}
