/* process.c: process_* metrics read from getrusage(2), getrlimit(2) and /proc/self, and
 * taskgate_build_info. Each read is a few system calls, whatever the load. */
#include "process.h"

#include <dirent.h>
#include <libxml/xmlversion.h>
#include <lua.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

/* Descriptors open now: the entries of /proc/self/fd, less the one reading them. */
static long open_fds(void) {
  DIR *dir = opendir("/proc/self/fd");
  if (!dir)
    return -1;
  long n = 0;
  while (readdir(dir))
    n++;
  closedir(dir);
  return n - 3; /* ".", ".." and the directory's own descriptor */
}

/* Virtual and resident size from /proc/self/statm (in pages). Returns 0 or -1. */
static int memory(double *virtual_bytes, double *resident_bytes) {
  FILE *statm = fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  int ok = statm && fscanf(statm, "%lu %lu", &size, &resident) == 2;
  if (statm)
    fclose(statm);
  double page = (double)sysconf(_SC_PAGESIZE);
  *virtual_bytes = (double)size * page;
  *resident_bytes = (double)resident * page;
  return ok ? 0 : -1;
}

void tg_process_metrics(tg_buf_t *out, double started) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  double cpu = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 + (double)usage.ru_stime.tv_sec +
               (double)usage.ru_stime.tv_usec / 1e6;
  struct rlimit files;
  getrlimit(RLIMIT_NOFILE, &files);
  double virtual_bytes = 0, resident_bytes = 0;
  memory(&virtual_bytes, &resident_bytes);
  tg_buf_printf(out,
                "# HELP process_cpu_seconds_total User and system CPU time spent, in seconds.\n"
                "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.3f\n"
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %.0f\n"
                "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %.0f\n"
                "# HELP process_open_fds Open file descriptors (connections, the store, the log).\n"
                "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n"
                "# HELP process_max_fds The limit on open file descriptors.\n"
                "# TYPE process_max_fds gauge\nprocess_max_fds %.0f\n"
                "# HELP process_start_time_seconds Start time of the process since the epoch.\n"
                "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.3f\n",
                cpu, resident_bytes, virtual_bytes, open_fds(), (double)files.rlim_cur, started);
  tg_buf_printf(out,
                "# HELP taskgate_build_info The running build: its version and the libraries it uses.\n"
                "# TYPE taskgate_build_info gauge\n"
                "taskgate_build_info{version=\"%s\",lua=\"%s\",sqlite=\"%s\",libuv=\"%s\",libxml2=\"%s\"} 1\n",
                TG_VERSION, LUA_VERSION_MAJOR "." LUA_VERSION_MINOR "." LUA_VERSION_RELEASE, sqlite3_libversion(),
                uv_version_string(), LIBXML_DOTTED_VERSION);
}
