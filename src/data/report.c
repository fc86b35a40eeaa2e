/* The dataset check report in text and JSON (format in report.h). */
#include "data/report.h"

#include "io/file.h"

static const ds_split *splits_of(const dataset *ds, int i) {
    return i == 0 ? &ds->train : i == 1 ? &ds->val : &ds->test;
}

int report_usable(const dataset *ds) {
    for (int i = 0; i < 3; i++) {
        const ds_split *s = splits_of(ds, i);
        if (s->name && s->nimages == 0) return 0;
    }
    return 1;
}

void report_write_text(FILE *f, const dataset *ds) {
    fprintf(f, "dataset %s: %d classes, root %s\n", ds->yaml_path ? ds->yaml_path : ds->root,
            ds->nc, ds->root);
    fprintf(f, "%-6s %8s %12s %8s %8s %14s\n", "split", "images", "backgrounds", "corrupt", "boxes",
            "dropped lines");
    size_t nprob = 0;
    for (int i = 0; i < 3; i++) {
        const ds_split *s = splits_of(ds, i);
        if (!s->name) continue;
        fprintf(f, "%-6s %8zu %12zu %8zu %8zu %14zu\n", s->name, s->nimages, s->nbackgrounds,
                s->ncorrupt, s->nboxes, s->ndropped);
        nprob += s->nproblems;
    }
    for (int i = 0; i < 3; i++) {
        const ds_split *s = splits_of(ds, i);
        if (!s->name || !s->nproblems) continue;
        fprintf(f, "\n%s: %zu problem%s\n", s->name, s->nproblems, s->nproblems == 1 ? "" : "s");
        for (size_t k = 0; k < s->nproblems; k++) {
            const ds_problem *p = &s->problems[k];
            if (p->line)
                fprintf(f, "  %s:%d: %s\n", p->file, p->line, p->reason);
            else
                fprintf(f, "  %s: %s\n", p->file, p->reason);
        }
    }
    if (!nprob) fprintf(f, "\nno problems found\n");
    for (int i = 0; i < 3; i++) {
        const ds_split *s = splits_of(ds, i);
        if (s->name && s->nimages == 0)
            fprintf(f, "\nerror: split '%s' has no usable image\n", s->name);
    }
}

status report_build_json(sbuf *s, const dataset *ds) {
    sbuf_printf(s, "{\"data\": ");
    sbuf_json_string(s, ds->yaml_path ? ds->yaml_path : ds->root);
    sbuf_printf(s, ", \"root\": ");
    sbuf_json_string(s, ds->root);
    sbuf_printf(s, ", \"nc\": %d, \"names\": [", ds->nc);
    for (int k = 0; k < ds->nc; k++) {
        if (k) sbuf_printf(s, ", ");
        sbuf_json_string(s, ds->names[k]);
    }
    sbuf_printf(s, "],\n \"splits\": {");
    int first = 1;
    for (int i = 0; i < 3; i++) {
        const ds_split *sp = splits_of(ds, i);
        if (!sp->name) continue;
        sbuf_printf(s, "%s\n  ", first ? "" : ",");
        first = 0;
        sbuf_json_string(s, sp->name);
        sbuf_printf(s,
                    ": {\"images\": %zu, \"backgrounds\": %zu, \"corrupt\": %zu, \"boxes\": %zu, "
                    "\"dropped_lines\": %zu, \"problems\": [",
                    sp->nimages, sp->nbackgrounds, sp->ncorrupt, sp->nboxes, sp->ndropped);
        for (size_t k = 0; k < sp->nproblems; k++) {
            const ds_problem *p = &sp->problems[k];
            sbuf_printf(s, "%s\n    {\"file\": ", k ? "," : "");
            sbuf_json_string(s, p->file);
            sbuf_printf(s, ", \"line\": %d, \"reason\": ", p->line);
            sbuf_json_string(s, p->reason);
            sbuf_printf(s, "}");
        }
        sbuf_printf(s, "%s]}", sp->nproblems ? "\n  " : "");
    }
    sbuf_printf(s, "\n },\n \"usable\": %s}\n", report_usable(ds) ? "true" : "false");
    return s->failed ? err_set(YOLOC_ERR_NOMEM, "out of memory building the report") : YOLOC_OK;
}

status report_save_json(const char *path, const dataset *ds) {
    sbuf s;
    sbuf_init(&s);
    status st = report_build_json(&s, ds);
    if (st == YOLOC_OK) st = file_write_atomic(path, s.buf, s.len);
    sbuf_free(&s);
    return st;
}
