/* The dataset check report (`yoloc data check`): a text table with the
 * problems list, and the same in JSON:
 *   {"data": ..., "root": ..., "nc": N, "names": [...],
 *    "splits": {"train": {"images", "backgrounds", "corrupt", "boxes",
 *               "dropped_lines", "problems": [{"file", "line", "reason"}]},
 *               ...},
 *    "usable": true|false}
 * `line` is the 1-based label line, 0 for a whole file. */
#ifndef YOLOC_DATA_REPORT_H
#define YOLOC_DATA_REPORT_H

#include "core/status.h"
#include "data/dataset.h"
#include "io/json.h"

#include <stdio.h>

/* 1 when every split of the dataset has at least one usable image. */
int report_usable(const dataset *ds);
/* Writes the human-readable report. */
void report_write_text(FILE *f, const dataset *ds);
/* Appends the JSON report to s. YOLOC_ERR_NOMEM when s ran out of memory. */
status report_build_json(sbuf *s, const dataset *ds);
/* Writes the JSON report to path atomically (temporary file + rename). */
status report_save_json(const char *path, const dataset *ds);

#endif
