/* process.h: the process_* metrics Prometheus' client libraries export, and the build_info
 * gauge: what the box sees of the gateway (CPU, memory, descriptors) and which build runs. */
#ifndef TG_PROCESS_H
#define TG_PROCESS_H

#include "buf.h"

/* Appends process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds and
 * process_start_time_seconds (started: seconds since the epoch), then taskgate_build_info. */
void tg_process_metrics(tg_buf_t *out, double started);

#endif
