// Errors of a TLS connection to the app that mean "the app's certificate or handshake was
// refused": logged as errors (a misconfiguration or an attack, never retried in clear text).
const VERIFY = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|ERR_SSL|ERR_TLS|EPROTO/;

export function isTlsFailure(err: { code?: string }): boolean {
  return err.code !== undefined && VERIFY.test(err.code);
}
