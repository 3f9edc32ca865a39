/* admin_client.c: a small blocking HTTP/1.1 GET to the admin address, for `taskgate status` and
 * `taskgate reload`: they reach the gateway their configuration describes, never a guess. */
#include "admin_client.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "admin.h"

enum { TIMEOUT_SECONDS = 5, MAX_ANSWER = 4 << 20 };

void tg_admin_address(const tg_config_t *config, char *out, size_t cap) {
  snprintf(out, cap, strchr(config->admin_host, ':') ? "[%s]:%d" : "%s:%d", config->admin_host, config->admin_port);
}

/* Connects to the admin address, within TIMEOUT_SECONDS (Linux applies the send timeout to
 * connect too). Returns the socket or -1. */
static int connect_admin(const tg_config_t *config) {
  const char *host = config->admin_host;
  if (strcmp(host, "0.0.0.0") == 0)
    host = "127.0.0.1";
  else if (strcmp(host, "::") == 0)
    host = "::1";
  char port[16];
  snprintf(port, sizeof port, "%d", config->admin_port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *found = NULL;
  if (getaddrinfo(host, port, &hints, &found) != 0)
    return -1;
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval timeout = {.tv_sec = TIMEOUT_SECONDS};
  if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) < 0 ||
                  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0 ||
                  connect(fd, found->ai_addr, found->ai_addrlen) < 0)) {
    close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  return fd;
}

/* Sends the request and reads the whole answer (the request asks the gateway to close). */
static int exchange(int fd, const char *request, tg_buf_t *answer) {
  size_t len = strlen(request);
  if (write(fd, request, len) != (ssize_t)len)
    return -1;
  char chunk[16384];
  ssize_t n;
  while ((n = read(fd, chunk, sizeof chunk)) > 0)
    if (answer->len + (size_t)n > MAX_ANSWER || tg_buf_append(answer, chunk, (size_t)n) < 0)
      return -1;
  return n < 0 ? -1 : 0;
}

int tg_admin_fetch(const tg_config_t *config, const char *path, tg_buf_t *body, char *err, size_t errcap) {
  char address[96], token[TG_ADMIN_TOKEN_MAX + 1] = "", authorization[TG_ADMIN_TOKEN_MAX + 32] = "";
  tg_admin_address(config, address, sizeof address);
  if (config->admin_token_file) {
    char why[256];
    if (tg_admin_token_load(config->admin_token_file, "admin", token, sizeof token, why, sizeof why) < 0)
      return snprintf(err, errcap, "%s", why), -1;
    snprintf(authorization, sizeof authorization, "Authorization: Bearer %s\r\n", token);
  }
  int fd = connect_admin(config);
  if (fd < 0)
    return snprintf(err, errcap, "no gateway answers on the admin address %s", address), -1;
  char request[1024];
  /* Host: the address itself, which the admin address always answers (host_allow.h) */
  snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n", path, address,
           authorization);
  tg_buf_t answer = {0};
  int rc = exchange(fd, request, &answer);
  close(fd);
  int status = 0;
  const char *head_end = NULL;
  if (rc == 0 && tg_buf_append(&answer, "", 1) == 0) /* the answer is text: end it for strstr */
    head_end = strstr(answer.data, "\r\n\r\n");
  if (!head_end || sscanf(answer.data, "HTTP/1.1 %d ", &status) != 1) {
    tg_buf_free(&answer);
    return snprintf(err, errcap, "no HTTP answer from the admin address %s", address), -1;
  }
  tg_buf_puts(body, head_end + 4);
  tg_buf_free(&answer);
  return status;
}
