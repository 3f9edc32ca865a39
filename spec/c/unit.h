/* unit.h: the C core's unit tests. A test file includes the .c file it tests (as h2o's
 * t/00unit does), so its static functions and state machines are in reach, and is built into
 * an executable of its own (CMakeLists.txt: unit_<name>). It prints TAP: one "ok N - name" or
 * "not ok N - name" line per test, with the failed checks as "#" lines after it, then "1..N";
 * spec/unit/c_units_spec.lua runs every unit_* executable and makes each test one of its own.
 *
 *   static void reads_a_request(void) { CHECK(...); }
 *   int main(void) { TEST(reads_a_request); return unit_done(); }
 */
#ifndef TG_UNIT_H
#define TG_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_count, unit_failures, unit_checks_failed;

/* Records a failed check; the test goes on (later checks say more about what broke). */
static void unit_fail(const char *file, int line, const char *what) {
  if (unit_checks_failed++ < 8)
    printf("# %s:%d: %s\n", file, line, what);
}

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond))                                                                                                       \
      unit_fail(__FILE__, __LINE__, "failed: " #cond);                                                                 \
  } while (0)

/* Two integers that must be equal; both values are printed when they are not. */
#define CHECK_INT(got, want)                                                                                           \
  do {                                                                                                                 \
    long long unit_got_ = (long long)(got), unit_want_ = (long long)(want);                                            \
    if (unit_got_ != unit_want_) {                                                                                     \
      char unit_text_[256];                                                                                            \
      snprintf(unit_text_, sizeof unit_text_, "%s is %lld, not %lld", #got, unit_got_, unit_want_);                    \
      unit_fail(__FILE__, __LINE__, unit_text_);                                                                       \
    }                                                                                                                  \
  } while (0)

/* A string (NUL-terminated or the len bytes at got) that must be want. */
#define CHECK_BYTES(got, len, want)                                                                                    \
  do {                                                                                                                 \
    size_t unit_len_ = (len);                                                                                          \
    if (unit_len_ != strlen(want) || memcmp((got), (want), unit_len_) != 0) {                                          \
      char unit_text_[512];                                                                                            \
      snprintf(unit_text_, sizeof unit_text_, "%s is \"%.*s\", not \"%s\"", #got, (int)unit_len_, (got), (want));      \
      unit_fail(__FILE__, __LINE__, unit_text_);                                                                       \
    }                                                                                                                  \
  } while (0)

/* Runs one test and prints its line. Its name is the function's, with '_' read as a space. */
static void unit_run(const char *name, void (*test)(void)) {
  char title[128];
  snprintf(title, sizeof title, "%s", name);
  for (char *c = title; *c; c++)
    if (*c == '_')
      *c = ' ';
  unit_checks_failed = 0;
  printf("# %s\n", title);
  fflush(stdout);
  test();
  unit_count++;
  if (unit_checks_failed)
    unit_failures++;
  printf("%sok %d - %s\n", unit_checks_failed ? "not " : "", unit_count, title);
  fflush(stdout);
}

#define TEST(fn) unit_run(#fn, fn)

/* Prints the plan; the exit status says whether every test passed. */
static int unit_done(void) {
  printf("1..%d\n", unit_count);
  return unit_failures ? 1 : 0;
}

#endif
