/* TensorBoard event files (io/tfevents.h):
 *  - CRC-32C against its check value ("123456789" -> 0xe3069283) and the
 *    masking of the record framing;
 *  - a file of a version record, three scalars and a PNG image read back
 *    record by record: lengths, both CRCs of every record, and each Event
 *    decoded (protobuf-c) with its tag, step, value or image size;
 *  - a file that is not a PNG is refused naming the tag.
 * tools/check_tensorboard.py reads a run's file with TensorBoard itself.
 * ctest-labels: io */
#include "harness.h"
#include "io/file.h"
#include "io/image.h"
#include "io/tfevents.h"
#include "tfevents.pb-c.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t get_u32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void test_crc(void) {
    CHECK_EQ_INT(tfe_crc32c("123456789", 9), 0xe3069283u);
    CHECK_EQ_INT(tfe_crc32c("", 0), 0);
    uint32_t c = tfe_crc32c("abc", 3);
    CHECK_EQ_INT(tfe_masked_crc("abc", 3), (uint32_t)(((c >> 15) | (c << 17)) + 0xa282ead8u));
}

static void test_file(const char *dir) {
    /* a 5 x 3 PNG */
    image img = {.w = 5, .h = 3, .data = calloc(5 * 3 * 3, 1)};
    char png[600];
    snprintf(png, sizeof png, "%s/p.png", dir);
    CHECK_EQ_INT(image_save(png, &img, 0), YOLOC_OK);
    free(img.data);

    tfevents *w = NULL;
    char path[4300];
    CHECK_EQ_INT(tfe_open(&w, dir, path, sizeof path), YOLOC_OK);
    CHECK_CONTAINS(path, "/events.out.tfevents.");
    CHECK_EQ_INT(tfe_scalar(w, "train/box_loss", 1, 1.5), YOLOC_OK);
    CHECK_EQ_INT(tfe_scalar(w, "train/box_loss", 2, 0.0), YOLOC_OK); /* a zero is written too */
    CHECK_EQ_INT(tfe_scalar(w, "lr/pg0", 7, 0.01), YOLOC_OK);
    CHECK_EQ_INT(tfe_image_file(w, "results", 2, png), YOLOC_OK);
    CHECK(tfe_image_png(w, "bad", 0, "not a png at all, not at all, no", 32) == YOLOC_ERR_INVALID);
    err_clear();
    tfe_close(w);

    char *buf = NULL;
    size_t len = 0;
    CHECK_EQ_INT(file_read_all(path, 1 << 20, &buf, &len), YOLOC_OK);
    size_t off = 0;
    int n = 0;
    const char *tags[] = {NULL, "train/box_loss", "train/box_loss", "lr/pg0", "results"};
    const long steps[] = {0, 1, 2, 7, 2};
    const double vals[] = {0, 1.5, 0.0, 0.01, 0};
    while (buf && off + 12 <= len && n < 8) {
        const unsigned char *p = (const unsigned char *)buf + off;
        uint64_t rl = 0;
        for (int i = 0; i < 8; i++) rl |= (uint64_t)p[i] << (8 * i);
        CHECK_EQ_INT(get_u32(p + 8), tfe_masked_crc(p, 8));
        if (off + 12 + rl + 4 > len) break;
        CHECK_EQ_INT(get_u32(p + 12 + rl), tfe_masked_crc(p + 12, (size_t)rl));
        Yoloc__Tb__Event *ev = yoloc__tb__event__unpack(NULL, (size_t)rl, p + 12);
        CHECK(ev != NULL);
        if (ev && n == 0) {
            CHECK_EQ_INT(ev->what_case, YOLOC__TB__EVENT__WHAT_FILE_VERSION);
            CHECK_STR(ev->file_version, "brain.Event:2");
        } else if (ev && n < 5) {
            CHECK(ev->wall_time > 1.6e9);
            CHECK_EQ_INT(ev->step, steps[n]);
            CHECK_EQ_INT(ev->what_case, YOLOC__TB__EVENT__WHAT_SUMMARY);
            CHECK_EQ_INT(ev->summary->n_value, 1);
            Yoloc__Tb__Value *v = ev->summary->value[0];
            CHECK_STR(v->tag, tags[n]);
            if (n < 4) {
                CHECK_EQ_INT(v->value_case, YOLOC__TB__VALUE__VALUE_SIMPLE_VALUE);
                CHECK_NEAR(v->simple_value, vals[n], 1e-7);
            } else {
                CHECK_EQ_INT(v->value_case, YOLOC__TB__VALUE__VALUE_IMAGE);
                CHECK_EQ_INT(v->image->width, 5);
                CHECK_EQ_INT(v->image->height, 3);
                CHECK_EQ_INT(v->image->colorspace, 3);
                CHECK(v->image->encoded_image_string.len > 33);
            }
        }
        if (ev) yoloc__tb__event__free_unpacked(ev, NULL);
        off += 12 + (size_t)rl + 4;
        n++;
    }
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_INT(off, len);
    free(buf);
}

int main(void) {
    char dir[] = "/tmp/yoloc_tfevents_XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("cannot create a temporary folder");
    test_crc();
    test_file(dir);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish("test_tfevents");
}
