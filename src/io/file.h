/* Whole-file reading and atomic writing, shared by every writer in yoloc.
 *
 * An atomic write goes to PATH.tmp (created exclusively, so a link left at
 * that name is never written through; a stale PATH.tmp file is replaced), is
 * flushed and fsync'ed, then renamed over PATH, and the folder is fsync'ed
 * (best effort). On any failure the temporary file is removed and an existing
 * PATH is left untouched; the error (YOLOC_ERR_IO) names PATH and the
 * system's reason:
 *   "PATH: cannot create PATH.tmp: <reason>"
 *   "PATH: cannot write: <reason>"
 *   "PATH: cannot rename the temporary file: <reason>"
 *
 * Two writers of the same PATH at once (threads or processes): the second
 * afile_open replaces the first one's PATH.tmp, and the first then fails at
 * commit ("PATH.tmp was replaced by another writer") without touching the
 * second one's file, so PATH ends up complete. (A replacement in the moment
 * between that check and the rename is not caught.)
 *
 * Left out: reading from pipes or other non-regular files; partial reads. */
#ifndef YOLOC_IO_FILE_H
#define YOLOC_IO_FILE_H

#include "core/status.h"

#include <stddef.h>
#include <stdio.h>

typedef struct {
    const char *path; /* borrowed: must outlive the afile */
    char *tmp;        /* malloc'd "PATH.tmp"; NULL once committed or aborted */
    FILE *fp;         /* write with afile_write or directly (commit checks ferror) */
} afile;

/* Creates PATH.tmp. On failure nothing is left behind and afile_abort is a
 * no-op. */
status afile_open(afile *a, const char *path);
/* Appends n bytes. On failure the temporary file is already removed (the
 * afile is as after afile_abort). */
status afile_write(afile *a, const void *data, size_t n);
/* Flush, fsync, close, rename over PATH. Afterwards (success or failure) the
 * afile holds nothing and afile_abort is a no-op. */
status afile_commit(afile *a);
/* Gives up: closes and removes PATH.tmp. Safe at any point after afile_open,
 * also after a failed open, write or commit, and more than once. */
void afile_abort(afile *a);

/* One-shot atomic write of a buffer (n may be 0). */
status file_write_atomic(const char *path, const void *data, size_t n);

/* Reads a whole regular file into a malloc'd buffer with a terminating NUL
 * (not counted in *len); free() it. *data is NULL on failure. Errors name
 * the path: YOLOC_ERR_IO for "cannot open: <reason>", "not a regular file",
 * "too large (N bytes, at most max_bytes)" and read errors (including a file
 * that changes size while being read), YOLOC_ERR_NOMEM when the buffer
 * cannot be allocated. */
/* Creates a folder and its missing parents (mode 0755); existing ones are
 * fine. Errors name the folder that could not be created. */
status file_mkdirs(const char *path);
/* A run directory as Ultralytics' increment_path names them: project/name,
 * or the first of project/name2, name3, ... that does not exist (exist_ok:
 * project/name as it is); created with its parents. dir receives it. */
status file_run_dir(const char *project, const char *name, int exist_ok, char *dir, size_t cap);

status file_read_all(const char *path, size_t max_bytes, char **data, size_t *len);

#endif
