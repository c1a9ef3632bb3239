/**
 * Node reports a failed certificate check with an OpenSSL code and a terse message ("self-signed
 * certificate in certificate chain"). Said as what to check, naming the settings involved.
 */
const CERT_CODES: Record<string, string> = {
  SELF_SIGNED_CERT_IN_CHAIN: 'the server certificate is not signed by a CA this app trusts',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server certificate is self-signed and not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server certificate is not signed by a CA this app trusts',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the server certificate is not signed by a CA this app trusts',
  UNABLE_TO_GET_ISSUER_CERT: 'the server certificate is not signed by a CA this app trusts',
  CERT_HAS_EXPIRED: 'the server certificate has expired',
  CERT_NOT_YET_VALID: 'the server certificate is not valid yet (check the clocks)',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the server certificate does not name the host connected to',
  CERT_SIGNATURE_FAILURE: 'the server certificate signature is invalid',
};

/** A log-safe, actionable description of a TLS failure, or undefined when the error is not one. */
export function describeTlsError(error: unknown): string | undefined {
  // Duck-typed: errors from Node's TLS layer may come from another realm (jest's VM modules).
  if (typeof error !== 'object' || error === null || typeof (error as Error).message !== 'string') return undefined;
  const code = String((error as NodeJS.ErrnoException).code ?? '');
  const message = (error as Error).message;
  const what = CERT_CODES[code];
  if (what) return `TLS certificate check failed: ${what} (${code}); check REDIS_TLS_CA_FILE / tls.ca${code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? ' and REDIS_TLS_SERVERNAME / tls.servername' : ''}`;
  if (/alert (certificate required|handshake failure|unknown ca|bad certificate)/i.test(message) || /SSL alert number (116|40|48|42)/.test(message)) {
    return `TLS handshake refused by the server (${message.replace(/\s+/g, ' ').slice(0, 120)}); it may require a client certificate signed by its CA: check REDIS_TLS_CERT_FILE / REDIS_TLS_KEY_FILE`;
  }
  if (/wrong version number|packet length too long|unknown protocol/i.test(message)) {
    return 'TLS handshake failed: the server does not speak TLS on this port (drop TLS, or use its tls-port)';
  }
  return undefined;
}
