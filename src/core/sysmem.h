/* What the operating system says about memory: the machine's available
 * memory (cgroup limits included), this process's resident set and its
 * peak, and byte counts for people. Used by the planner's memory model,
 * `yoloc bench` and the trainer's progress line. */
#ifndef YOLOC_CORE_SYSMEM_H
#define YOLOC_CORE_SYSMEM_H

#include "core/status.h"

#include <stddef.h>

/* Bytes as "1.23 GiB" / "456.7 MiB" / "12 KiB". */
const char *sys_fmt_bytes(size_t bytes, char *buf, size_t cap);

/* Memory of one machine for the batch choice: gib > 0 (the mem= key), else
 * the cgroup limit (cgroup v2 memory.max, or v1 limit_in_bytes) when one is
 * set and below MemAvailable, else MemAvailable from /proc/meminfo. src
 * names where the number came from. */
status sys_mem_available(double gib, size_t *bytes, char *src, size_t cap);

/* This process's resident set now (VmRSS) and its peak (VmHWM; getrusage
 * ru_maxrss when /proc is missing). 0 when unknown. */
size_t sys_rss_now(void);
size_t sys_rss_peak(void);
/* Resets the peak (/proc/self/clear_refs "5"); 1 when done, 0 when the
 * kernel refused (the peak then includes what came before). */
int sys_reset_rss_peak(void);

#endif
