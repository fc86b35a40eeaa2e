/* The check cache: the results of checking a split's images and labels,
 * stored next to the labels (`<labels folder>.yoloc.cache`, the place
 * Ultralytics puts its labels/<split>.cache) so that the next open skips
 * decoding every image.
 *
 * Format (little-endian): magic "YOLOCCHK", u32 version, u32 nc, u32 entry
 * count, the entries (paths, file keys, results, problems), then a 64-bit
 * FNV-1a checksum of everything before it. An entry is reused only when its
 * image path, label path, and both files' sizes and mtimes are unchanged;
 * a file with another version, another class count, a bad checksum or any
 * inconsistency is ignored as a whole (and rewritten). */
#ifndef YOLOC_DATA_CACHE_H
#define YOLOC_DATA_CACHE_H

#include "core/status.h"
#include "data/check.h"

/* Bump whenever a check rule changes (labels.h, check.h, image.h), so old
 * caches are rebuilt. */
#define CACHE_VERSION 1

/* Reads a cache file into a malloc'd array of checked entries sorted by
 * path (*n of them; free each with entry_free, then the array).
 * YOLOC_ERR_NOT_FOUND when the file does not exist, YOLOC_ERR_PARSE when it
 * is unreadable or from another version or class count. */
status cache_read(const char *path, int nc, ds_entry **entries, size_t *n);
/* Writes the checked entries atomically (temporary file + rename).
 * YOLOC_ERR_IO with the reason when the folder is not writable; a folder
 * without any write permission bit counts as read-only even for root, so a
 * dataset marked read-only is never modified. */
status cache_write(const char *path, int nc, const ds_entry *entries, size_t n);

#endif
