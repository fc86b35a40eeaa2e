/* Whole-file reading and atomic writing (contracts in file.h). This is the
 * only place in yoloc that creates a temporary file, renames it over its
 * target, or reads a whole file into memory. */
#include "io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static status afile_fail(afile *a, int err, const char *what) {
    afile_abort(a);
    return err_set(YOLOC_ERR_IO, "%s: cannot %s: %s", a->path, what, strerror(err ? err : EIO));
}

status afile_open(afile *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->path = path;
    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    if (!tmp) return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    a->fp = fopen(tmp, "wbx"); /* O_EXCL: never write through a link left at PATH.tmp */
    if (!a->fp && errno == EEXIST && unlink(tmp) == 0) a->fp = fopen(tmp, "wbx");
    if (!a->fp) {
        int e = errno;
        free(tmp);
        return err_set(YOLOC_ERR_IO, "%s: cannot create %s.tmp: %s", path, path, strerror(e));
    }
    a->tmp = tmp;
    return YOLOC_OK;
}

status afile_write(afile *a, const void *data, size_t n) {
    YOLOC_ASSERT(a->fp && a->tmp);
    errno = 0;
    if (n && fwrite(data, 1, n, a->fp) != n) return afile_fail(a, errno, "write");
    return YOLOC_OK;
}

/* 1 when PATH.tmp is still the file open in a->fp. A second writer of the same
 * PATH removes the tmp file it finds and creates its own (afile_open); the
 * first must then neither remove nor publish the second one's file. */
static int afile_tmp_is_ours(const afile *a) {
    struct stat mine, now;
    return fstat(fileno(a->fp), &mine) == 0 && lstat(a->tmp, &now) == 0 &&
           mine.st_dev == now.st_dev && mine.st_ino == now.st_ino;
}

void afile_abort(afile *a) {
    int ours = 1;
    if (a->fp) {
        ours = afile_tmp_is_ours(a);
        fclose(a->fp);
    }
    a->fp = NULL;
    if (a->tmp && ours) unlink(a->tmp);
    free(a->tmp);
    a->tmp = NULL;
}

status afile_commit(afile *a) {
    YOLOC_ASSERT(a->fp && a->tmp);
    errno = 0;
    if (ferror(a->fp) || fflush(a->fp) != 0 || fsync(fileno(a->fp)) != 0)
        return afile_fail(a, errno, "write");
    if (!afile_tmp_is_ours(a)) {
        afile_abort(a);
        return err_set(YOLOC_ERR_IO,
                       "%s: cannot rename the temporary file: %s.tmp was replaced "
                       "by another writer",
                       a->path, a->path);
    }
    FILE *fp = a->fp;
    a->fp = NULL;
    if (fclose(fp) != 0) return afile_fail(a, errno, "write");
    if (rename(a->tmp, a->path) != 0) return afile_fail(a, errno, "rename the temporary file");
    char *dir = strdup(a->tmp);
    if (dir) { /* make the rename itself durable (some filesystems refuse) */
        int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            (void)fsync(fd);
            close(fd);
        }
        free(dir);
    }
    free(a->tmp);
    a->tmp = NULL;
    return YOLOC_OK;
}

status file_write_atomic(const char *path, const void *data, size_t n) {
    afile a;
    TRY(afile_open(&a, path));
    TRY(afile_write(&a, data, n));
    return afile_commit(&a);
}

status file_read_all(const char *path, size_t max_bytes, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(YOLOC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return err_set(YOLOC_ERR_IO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        fclose(f);
        return err_set(YOLOC_ERR_IO, "%s: too large (%lld bytes, at most %zu)", path,
                       (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return err_set(YOLOC_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    errno = 0;
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int grew = got == n && getc(f) != EOF; /* more than fstat said: it changed */
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (got != n || grew || err) {
        free(buf);
        return err_set(YOLOC_ERR_IO, "%s: read error: %s", path,
                       err ? strerror(err) : "file changed size");
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return YOLOC_OK;
}

status file_run_dir(const char *project, const char *name, int exist_ok, char *dir, size_t cap) {
    struct stat st;
    snprintf(dir, cap, "%s/%s", project, name);
    for (int k = 2; !exist_ok && k < 100000 && stat(dir, &st) == 0; k++) snprintf(dir, cap, "%s/%s%d", project, name, k);
    return file_mkdirs(dir);
}

status file_mkdirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return err_set(YOLOC_ERR_IO, "%s: cannot create folder: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return err_set(YOLOC_ERR_IO, "%s: cannot create folder: %s", buf, strerror(errno));
    return YOLOC_OK;
}
