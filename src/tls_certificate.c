/* tls_certificate.c: a certificate's names, fingerprint and validity, as shown to operators
 * (see tls_certificate.h). */
#include "tls_certificate.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "json_text.h"

static void name_text(const X509_NAME *name, char *out, size_t cap) {
  BIO *bio = BIO_new(BIO_s_mem());
  out[0] = '\0';
  if (!bio)
    return;
  if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
    int n = BIO_read(bio, out, (int)cap - 1);
    out[n > 0 ? n : 0] = '\0';
  }
  BIO_free(bio);
}

static int asn1_unix_time(const ASN1_TIME *when, time_t *out) {
  struct tm tm;
  if (!when || ASN1_TIME_to_tm(when, &tm) != 1)
    return -1;
  *out = timegm(&tm);
  return 0;
}

static void serial_text(const X509 *x509, char *out, size_t cap) {
  BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x509), NULL);
  char *hex = serial ? BN_bn2hex(serial) : NULL;
  snprintf(out, cap, "%s", hex ? hex : "");
  OPENSSL_free(hex);
  BN_free(serial);
}

static void fingerprint_text(const X509 *x509, char *out, size_t cap) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  size_t used = 0;
  out[0] = '\0';
  if (X509_digest(x509, EVP_sha256(), digest, &len) != 1)
    return;
  for (unsigned i = 0; i < len && used + 3 < cap; i++)
    used += (size_t)snprintf(out + used, cap - used, "%s%02X", i ? ":" : "", digest[i]);
}

void tg_tls_certificate_describe(const void *certificate, tg_tls_certificate_t *out) {
  const X509 *x509 = certificate;
  memset(out, 0, sizeof *out);
  if (!x509 || asn1_unix_time(X509_get0_notBefore(x509), &out->not_before) < 0 ||
      asn1_unix_time(X509_get0_notAfter(x509), &out->not_after) < 0)
    return;
  name_text(X509_get_subject_name(x509), out->subject, sizeof out->subject);
  name_text(X509_get_issuer_name(x509), out->issuer, sizeof out->issuer);
  serial_text(x509, out->serial, sizeof out->serial);
  fingerprint_text(x509, out->sha256, sizeof out->sha256);
  out->known = 1;
}

int tg_tls_certificate_read_file(const char *path, tg_tls_certificate_t *out) {
  memset(out, 0, sizeof *out);
  FILE *file = fopen(path, "r");
  if (!file)
    return -1;
  X509 *x509 = PEM_read_X509(file, NULL, NULL, NULL);
  fclose(file);
  tg_tls_certificate_describe(x509, out);
  X509_free(x509);
  return out->known ? 0 : -1;
}

static void iso_time(tg_buf_t *body, time_t when) {
  struct tm tm;
  char text[32];
  gmtime_r(&when, &tm);
  strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  tg_buf_printf(body, "\"%s\"", text);
}

void tg_tls_certificate_json(const tg_tls_certificate_t *cert, double now, tg_buf_t *body) {
  if (!cert->known) {
    tg_buf_puts(body, "null");
    return;
  }
  tg_buf_puts(body, "{\"subject\":");
  tg_json_text_string(body, cert->subject);
  tg_buf_puts(body, ",\"issuer\":");
  tg_json_text_string(body, cert->issuer);
  tg_buf_puts(body, ",\"serial\":");
  tg_json_text_string(body, cert->serial);
  tg_buf_puts(body, ",\"sha256\":");
  tg_json_text_string(body, cert->sha256);
  tg_buf_puts(body, ",\"not_before\":");
  iso_time(body, cert->not_before);
  tg_buf_puts(body, ",\"not_after\":");
  iso_time(body, cert->not_after);
  /* negative once expired: an alert sees how long ago */
  tg_buf_printf(body, ",\"not_after_unix\":%lld,\"expires_in_seconds\":%lld}", (long long)cert->not_after,
                (long long)cert->not_after - (long long)now);
}
