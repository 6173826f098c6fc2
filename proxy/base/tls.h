/* TLS for listeners: OpenSSL 3 server contexts that offer HTTP/2 and HTTP/1.1
 * through ALPN. */
#ifndef SL_TLS_H
#define SL_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/* Builds a server context: TLS 1.2 and 1.3, RFC 9113 §9.2 ciphers for TLS 1.2,
 * ALPN "h2", else "http/1.1" (a client offering only other protocols is refused
 * with the no_application_protocol alert; one that offers none gets HTTP/1.1),
 * certificate chain and key from PEM files.
 * Returns the context (the caller frees it with SSL_CTX_free), or NULL with a
 * sentence in err naming the file and OpenSSL's reason. */
SSL_CTX *sl_tls_server_ctx(const char *certificate, const char *key, char *err, size_t err_len);

#endif
