#include "tls.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

static const unsigned char alpn_h2[] = {2, 'h', '2'};
static const unsigned char alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

/* Finds the wire-format protocol name want in the client's list in. */
static bool find_protocol(const unsigned char *in, unsigned int in_len, const unsigned char *want,
                          size_t want_len, const unsigned char **out, unsigned char *out_len)
{
    for (unsigned int i = 0; i < in_len; i += 1u + in[i]) {
        if (in[i] == want[0] && i + want_len <= in_len && memcmp(in + i, want, want_len) == 0) {
            *out = in + i + 1;
            *out_len = in[i];
            return true;
        }
    }
    return false;
}

/* h2 when the client offers it, else http/1.1; a client offering neither is
 * refused (no_application_protocol), one offering nothing is served HTTP/1.1. */
static int on_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *out_len,
                          const unsigned char *in, unsigned int in_len, void *arg)
{
    if (find_protocol(in, in_len, alpn_h2, sizeof(alpn_h2), out, out_len) ||
        find_protocol(in, in_len, alpn_http11, sizeof(alpn_http11), out, out_len))
        return SSL_TLSEXT_ERR_OK;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void describe_error(char *err, size_t err_len, const char *what, const char *path)
{
    char reason[256] = "unknown error";
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    snprintf(err, err_len, "%s %s: %s", what, path, reason);
}

SSL_CTX *sl_tls_server_ctx(const char *certificate, const char *key, char *err, size_t err_len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        describe_error(err, err_len, "cannot create a TLS context for", certificate);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* a client that closes without close_notify ends its stream like one
     * that sends it: both HTTP versions delimit requests themselves, so a
     * request cut short is seen as one either way */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* RFC 9113 §9.2.2: TLS 1.2 with HTTP/2 needs ephemeral key exchange and AEAD */
    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* one read(2) takes what the socket holds, not a record's header then
     * its body */
    SSL_CTX_set_read_ahead(ctx, 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, certificate) != 1) {
        describe_error(err, err_len, "cannot load the TLS certificate", certificate);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        describe_error(err, err_len, "cannot load the TLS key", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        describe_error(err, err_len, "the TLS key does not match the certificate", certificate);
        goto fail;
    }
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn_select, NULL);
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}
