/* slow_resolver.c: a getaddrinfo that takes its time, preloaded into a gateway by the DNS spec.
 * A name ending in ".slow.test" is resolved after SLOW_RESOLVER_SECONDS (default 3) to
 * 127.0.0.1, as a name server that answers late would; every other name goes to the real
 * getaddrinfo at once. Build: cc -shared -fPIC -o slow_resolver.so slow_resolver.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

static int is_slow(const char *node) {
  static const char suffix[] = ".slow.test";
  size_t len = node ? strlen(node) : 0;
  return len >= sizeof suffix - 1 && strcmp(node + len - (sizeof suffix - 1), suffix) == 0;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
  getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
  if (!is_slow(node))
    return real(node, service, hints, res);
  const char *seconds = getenv("SLOW_RESOLVER_SECONDS");
  sleep(seconds ? (unsigned)atoi(seconds) : 3);
  return real("127.0.0.1", service, hints, res);
}
