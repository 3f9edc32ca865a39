/* shipped.h: where the files the gateway ships (lua/, console/, taskgate_native.so) are: beside
 * the binary (a copied binary, or a checkout's build directory), else where the package put them. */
#ifndef TG_SHIPPED_H
#define TG_SHIPPED_H

#include <stddef.h>

/* The directory of a shipped file set: `given` (a flag's) when not NULL; else the first of
 * beside[] (NULL-terminated patterns, "%s" standing for the binary's directory) that holds the
 * file `probe`, written into path; else `installed`. Returns one of these three; path (cap
 * bytes) is the caller's. */
const char *tg_shipped_find(const char *given, const char *const beside[], const char *probe, const char *installed,
                            char *path, size_t cap);

#endif
