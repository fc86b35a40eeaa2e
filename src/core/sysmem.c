/* Memory as the operating system reports it (see sysmem.h). */
#include "core/sysmem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

const char *sys_fmt_bytes(size_t bytes, char *buf, size_t cap) {
    double b = (double)bytes;
    if (b >= 1024.0 * 1024 * 1024) snprintf(buf, cap, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024) snprintf(buf, cap, "%.1f MiB", b / (1024.0 * 1024));
    else snprintf(buf, cap, "%.0f KiB", b / 1024.0);
    return buf;
}


static int read_u64_file(const char *path, uint64_t *v) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char buf[64] = "";
    int ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    if (!ok || strncmp(buf, "max", 3) == 0) return 0;
    char *end;
    unsigned long long x = strtoull(buf, &end, 10);
    if (end == buf) return 0;
    *v = (uint64_t)x;
    return 1;
}

static int meminfo_kb(const char *key, uint64_t *kb) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    size_t kl = strlen(key);
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            *kb = strtoull(line + kl + 1, NULL, 10);
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

status sys_mem_available(double gib, size_t *bytes, char *src, size_t cap) {
    if (gib > 0) {
        *bytes = (size_t)(gib * 1024.0 * 1024.0 * 1024.0);
        snprintf(src, cap, "mem=%g GiB", gib);
        return YOLOC_OK;
    }
    uint64_t avail_kb = 0, limit = 0;
    int have_avail = meminfo_kb("MemAvailable", &avail_kb);
    int have_limit = read_u64_file("/sys/fs/cgroup/memory.max", &limit);
    const char *lim_src = "cgroup memory.max";
    if (!have_limit) {
        have_limit = read_u64_file("/sys/fs/cgroup/memory/memory.limit_in_bytes", &limit);
        lim_src = "cgroup memory.limit_in_bytes";
        if (have_limit && limit >= ((uint64_t)1 << 60)) have_limit = 0; /* v1's "no limit" */
    }
    if (have_limit && (!have_avail || limit <= avail_kb * 1024)) {
        *bytes = (size_t)limit;
        snprintf(src, cap, "the %s limit", lim_src);
        return YOLOC_OK;
    }
    if (have_avail) {
        *bytes = (size_t)(avail_kb * 1024);
        char l[32];
        if (have_limit)
            snprintf(src, cap, "MemAvailable in /proc/meminfo (below the %s limit of %s)", lim_src,
                     sys_fmt_bytes((size_t)limit, l, sizeof l));
        else snprintf(src, cap, "MemAvailable in /proc/meminfo");
        return YOLOC_OK;
    }
    return err_set(YOLOC_ERR_UNSUPPORTED,
                   "cannot tell how much memory this machine has (no /proc/meminfo, no cgroup limit): give mem=GiB");
}

static size_t status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kl = strlen(key), v = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = (size_t)strtoull(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

size_t sys_rss_now(void) { return status_kb("VmRSS") * 1024; }

size_t sys_rss_peak(void) {
    size_t kb = status_kb("VmHWM");
    if (!kb) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0) kb = (size_t)ru.ru_maxrss; /* KiB on Linux */
    }
    return kb * 1024;
}

int sys_reset_rss_peak(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;
    ok = (fclose(f) == 0) && ok;
    return ok;
}

