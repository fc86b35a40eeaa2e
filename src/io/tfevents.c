/* TensorBoard event files (see tfevents.h). */
#include "io/tfevents.h"

#include "io/file.h"
#include "tfevents.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

struct tfevents {
    FILE *f;
    char path[4200];
};

static uint32_t CRC_TABLE[256];
static int crc_ready;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        CRC_TABLE[i] = c;
    }
    crc_ready = 1;
}

uint32_t tfe_crc32c(const void *data, size_t n) {
    if (!crc_ready) crc_init(); /* idempotent: racing initialisations write the same table */
    const unsigned char *p = data;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) c = CRC_TABLE[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

uint32_t tfe_masked_crc(const void *data, size_t n) {
    uint32_t c = tfe_crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static double wall_now(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

static void put_u32(unsigned char *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}

/* One record around the serialised event. */
static status write_event(tfevents *w, const Yoloc__Tb__Event *ev) {
    size_t n = yoloc__tb__event__get_packed_size(ev);
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    yoloc__tb__event__pack(ev, buf);
    unsigned char head[12], tail[4];
    for (int i = 0; i < 8; i++) head[i] = (unsigned char)((uint64_t)n >> (8 * i));
    put_u32(head + 8, tfe_masked_crc(head, 8));
    put_u32(tail, tfe_masked_crc(buf, n));
    int ok = fwrite(head, 1, 12, w->f) == 12 && fwrite(buf, 1, n, w->f) == n && fwrite(tail, 1, 4, w->f) == 4;
    free(buf);
    if (!ok) return err_set(YOLOC_ERR_IO, "%s: cannot write: %s", w->path, strerror(errno));
    return YOLOC_OK;
}

status tfe_open(tfevents **out, const char *dir, char *path, size_t cap) {
    *out = NULL;
    tfevents *w = calloc(1, sizeof *w);
    if (!w) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    snprintf(w->path, sizeof w->path, "%.3900s/events.out.tfevents.%ld.%.200s.%ld.0", dir, (long)wall_now(), host,
             (long)getpid());
    w->f = fopen(w->path, "wb");
    if (!w->f) {
        status st = err_set(YOLOC_ERR_IO, "%s: cannot create: %s", w->path, strerror(errno));
        free(w);
        return st;
    }
    Yoloc__Tb__Event ev = YOLOC__TB__EVENT__INIT;
    ev.wall_time = wall_now();
    ev.what_case = YOLOC__TB__EVENT__WHAT_FILE_VERSION;
    ev.file_version = (char *)"brain.Event:2";
    status st = write_event(w, &ev);
    if (st == YOLOC_OK) st = tfe_flush(w);
    if (st < 0) {
        tfe_close(w);
        return st;
    }
    if (path) snprintf(path, cap, "%s", w->path);
    *out = w;
    return YOLOC_OK;
}

static status write_value(tfevents *w, long step, Yoloc__Tb__Value *v) {
    Yoloc__Tb__Value *vals[1] = {v};
    Yoloc__Tb__Summary sum = YOLOC__TB__SUMMARY__INIT;
    sum.n_value = 1;
    sum.value = vals;
    Yoloc__Tb__Event ev = YOLOC__TB__EVENT__INIT;
    ev.wall_time = wall_now();
    ev.step = step;
    ev.what_case = YOLOC__TB__EVENT__WHAT_SUMMARY;
    ev.summary = &sum;
    return write_event(w, &ev);
}

status tfe_scalar(tfevents *w, const char *tag, long step, double value) {
    Yoloc__Tb__Value v = YOLOC__TB__VALUE__INIT;
    v.tag = (char *)tag;
    v.value_case = YOLOC__TB__VALUE__VALUE_SIMPLE_VALUE;
    v.simple_value = (float)value;
    return write_value(w, step, &v);
}

status tfe_image_png(tfevents *w, const char *tag, long step, const void *png, size_t n) {
    static const unsigned char SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const unsigned char *p = png;
    /* signature, then the IHDR chunk: length, "IHDR", width, height, bit
     * depth, colour type */
    if (n < 33 || memcmp(p, SIG, 8) != 0 || memcmp(p + 12, "IHDR", 4) != 0)
        return err_set(YOLOC_ERR_INVALID, "tensorboard image '%s': not a PNG", tag);
    uint32_t width = (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 | (uint32_t)p[18] << 8 | p[19];
    uint32_t height = (uint32_t)p[20] << 24 | (uint32_t)p[21] << 16 | (uint32_t)p[22] << 8 | p[23];
    int ctype = p[25], channels = ctype == 0 ? 1 : ctype == 4 ? 2 : ctype == 6 ? 4 : 3;
    Yoloc__Tb__Image img = YOLOC__TB__IMAGE__INIT;
    img.height = (int32_t)height;
    img.width = (int32_t)width;
    img.colorspace = channels;
    img.encoded_image_string.data = (uint8_t *)p;
    img.encoded_image_string.len = n;
    Yoloc__Tb__Value v = YOLOC__TB__VALUE__INIT;
    v.tag = (char *)tag;
    v.value_case = YOLOC__TB__VALUE__VALUE_IMAGE;
    v.image = &img;
    return write_value(w, step, &v);
}

status tfe_image_file(tfevents *w, const char *tag, long step, const char *path) {
    char *buf = NULL;
    size_t n = 0;
    TRY(file_read_all(path, (size_t)64 << 20, &buf, &n));
    status st = tfe_image_png(w, tag, step, buf, n);
    free(buf);
    return st;
}

status tfe_flush(tfevents *w) {
    if (fflush(w->f) != 0) return err_set(YOLOC_ERR_IO, "%s: cannot write: %s", w->path, strerror(errno));
    return YOLOC_OK;
}

void tfe_close(tfevents *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    free(w);
}
