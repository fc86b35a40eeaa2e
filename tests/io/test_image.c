/* Image decoding: every format and colour type built here (libpng,
 * TurboJPEG, hand-written BMP bytes), EXIF orientation 1-8 in both byte
 * orders on a crafted JPEG, save/load round trips, and each kind of corrupt
 * file (empty, text named .jpg, truncated JPEG/PNG/BMP, bad CRC, missing
 * JPEG end marker). */
#include "harness.h"
#include "io/image.h"

#include <png.h>
#include <stdint.h>
#include <turbojpeg.h>
#include <unistd.h>

static char g_dir[256];

static const char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

/* ------------------------------------------------------------ helpers -- */

/* Quadrant test image, W x H: top-left red, top-right green, bottom-left
 * blue, bottom-right white. */
static const uint8_t QCOL[4][3] = {{230, 20, 20}, {20, 200, 20}, {20, 20, 220}, {250, 250, 250}};
enum { Q_R = 0, Q_G, Q_B, Q_W };

static void make_quadrants(image *img, int w, int h) {
    img->w = w, img->h = h;
    img->data = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int q = (y >= h / 2) * 2 + (x >= w / 2);
            memcpy(img->data + ((size_t)y * w + x) * 3, QCOL[q], 3);
        }
}

/* Colour index (Q_*) nearest to the pixel at the centre of a quadrant of img. */
static int quadrant_at(const image *img, int qx, int qy) {
    int x = qx ? img->w * 3 / 4 : img->w / 4, y = qy ? img->h * 3 / 4 : img->h / 4;
    const uint8_t *p = img->data + ((size_t)y * img->w + x) * 3;
    int best = -1, bd = 1 << 30;
    for (int q = 0; q < 4; q++) {
        int d = 0;
        for (int c = 0; c < 3; c++) d += (p[c] - QCOL[q][c]) * (p[c] - QCOL[q][c]);
        if (d < bd) bd = d, best = q;
    }
    return bd < 30 * 30 ? best : -1;
}

static unsigned char *jpeg_encode(const uint8_t *px, int w, int h, int pf, int samp,
                                  unsigned long *len) {
    tjhandle tj = tjInitCompress();
    unsigned char *out = NULL;
    *len = 0;
    if (tjCompress2(tj, px, w, 0, h, pf, &out, len, samp, 95, 0) != 0) {
        fprintf(stderr, "tjCompress2: %s\n", tjGetErrorStr2(tj));
        exit(1);
    }
    tjDestroy(tj);
    unsigned char *copy = malloc(*len);
    memcpy(copy, out, *len);
    tjFree(out);
    return copy;
}

/* ---------------------------------------------------------------- JPEG -- */

static void test_jpeg_colour_types(void) {
    image src;
    make_quadrants(&src, 32, 16);
    unsigned long len;
    unsigned char *jpg = jpeg_encode(src.data, 32, 16, TJPF_RGB, TJSAMP_444, &len);
    image img;
    CHECK_EQ_INT(image_sniff(jpg, len), IMAGE_FMT_JPEG);
    CHECK_EQ_INT(image_decode(jpg, len, "rgb.jpg", &img), YOLOC_OK);
    CHECK_EQ_INT(img.w, 32);
    CHECK_EQ_INT(img.h, 16);
    CHECK_EQ_INT(quadrant_at(&img, 0, 0), Q_R);
    CHECK_EQ_INT(quadrant_at(&img, 1, 0), Q_G);
    CHECK_EQ_INT(quadrant_at(&img, 0, 1), Q_B);
    CHECK_EQ_INT(quadrant_at(&img, 1, 1), Q_W);
    image_free(&img);
    free(jpg);

    /* grayscale JPEG -> R = G = B */
    uint8_t gray[16 * 16];
    for (int i = 0; i < 256; i++) gray[i] = (uint8_t)(i < 128 ? 40 : 200);
    jpg = jpeg_encode(gray, 16, 16, TJPF_GRAY, TJSAMP_GRAY, &len);
    CHECK_EQ_INT(image_decode(jpg, len, "gray.jpg", &img), YOLOC_OK);
    if (img.data) {
        const uint8_t *top = img.data + (4 * 16 + 8) * 3, *bot = img.data + (12 * 16 + 8) * 3;
        CHECK(top[0] == top[1] && top[1] == top[2]);
        CHECK_NEAR(top[0], 40, 3);
        CHECK_NEAR(bot[0], 200, 3);
    }
    image_free(&img);
    free(jpg);

    /* CMYK (YCCK) JPEG, Adobe-inverted values: (C,M,Y,K) = (255,0,0,255) is
     * red, (0,0,0,255) black, (255,255,255,128) mid grey. */
    uint8_t cmyk[16 * 16 * 4];
    for (int i = 0; i < 256; i++) {
        uint8_t *p = cmyk + 4 * i;
        int y = i / 16;
        if (y < 8)
            p[0] = 255, p[1] = 0, p[2] = 0, p[3] = 255;
        else
            p[0] = 255, p[1] = 255, p[2] = 255, p[3] = 128;
    }
    jpg = jpeg_encode(cmyk, 16, 16, TJPF_CMYK, TJSAMP_444, &len);
    CHECK_EQ_INT(image_decode(jpg, len, "cmyk.jpg", &img), YOLOC_OK);
    if (img.data) {
        const uint8_t *top = img.data + (4 * 16 + 8) * 3, *bot = img.data + (12 * 16 + 8) * 3;
        CHECK_NEAR(top[0], 255, 4);
        CHECK_NEAR(top[1], 0, 4);
        CHECK_NEAR(top[2], 0, 4);
        CHECK_NEAR(bot[0], 128, 4);
        CHECK_NEAR(bot[2], 128, 4);
    }
    image_free(&img);
    free(jpg);
    image_free(&src);
}

/* A JPEG with an APP1 Exif segment holding orientation o, inserted after SOI. */
static unsigned char *jpeg_with_exif(const unsigned char *jpg, size_t len, int o, int little,
                                     size_t *outlen) {
    unsigned char tiff[26];
    /* header (8) + IFD count (2) + one 12-byte entry + next-IFD offset (4) */
    memset(tiff, 0, sizeof tiff);
    if (little) {
        memcpy(tiff, "II\x2a\x00\x08\x00\x00\x00", 8);
        tiff[8] = 1;                      /* one entry */
        tiff[10] = 0x12, tiff[11] = 0x01; /* tag 0x0112 */
        tiff[12] = 3;                     /* SHORT */
        tiff[14] = 1;                     /* count 1 */
        tiff[18] = (unsigned char)o;      /* value */
    } else {
        memcpy(tiff, "MM\x00\x2a\x00\x00\x00\x08", 8);
        tiff[9] = 1;
        tiff[10] = 0x01, tiff[11] = 0x12;
        tiff[13] = 3;
        tiff[17] = 1;
        tiff[19] = (unsigned char)o;
    }
    size_t seglen = 2 + 6 + sizeof tiff;
    unsigned char *out = malloc(len + 2 + seglen);
    memcpy(out, jpg, 2);
    out[2] = 0xff, out[3] = 0xe1, out[4] = (unsigned char)(seglen >> 8),
    out[5] = (unsigned char)seglen;
    memcpy(out + 6, "Exif\0\0", 6);
    memcpy(out + 12, tiff, sizeof tiff);
    memcpy(out + 2 + 2 + seglen, jpg + 2, len - 2);
    *outlen = len + 2 + seglen;
    return out;
}

static void test_exif_orientation(void) {
    image src;
    make_quadrants(&src, 32, 16);
    unsigned long len;
    unsigned char *jpg = jpeg_encode(src.data, 32, 16, TJPF_RGB, TJSAMP_444, &len);
    /* Expected quadrant colours (TL, TR, BL, BR) as a viewer shows them,
     * derived by hand from the EXIF definitions. */
    static const int expect[9][4] = {
        {0},
        {Q_R, Q_G, Q_B, Q_W}, /* 1 as stored */
        {Q_G, Q_R, Q_W, Q_B}, /* 2 mirrored left-right */
        {Q_W, Q_B, Q_G, Q_R}, /* 3 rotated 180 */
        {Q_B, Q_W, Q_R, Q_G}, /* 4 mirrored top-bottom */
        {Q_R, Q_B, Q_G, Q_W}, /* 5 transposed */
        {Q_B, Q_R, Q_W, Q_G}, /* 6 rotated 90 clockwise */
        {Q_W, Q_G, Q_B, Q_R}, /* 7 transversed */
        {Q_G, Q_W, Q_R, Q_B}, /* 8 rotated 90 counter-clockwise */
    };
    for (int little = 0; little < 2; little++) {
        for (int o = 1; o <= 8; o++) {
            size_t n;
            unsigned char *ex = jpeg_with_exif(jpg, len, o, little, &n);
            image img;
            char name[64];
            snprintf(name, sizeof name, "exif%d%s.jpg", o, little ? "II" : "MM");
            status st = image_decode(ex, n, name, &img);
            CHECK_MSG(st == YOLOC_OK, "%s: %s", name, yoloc_last_error());
            int ew = o >= 5 ? 16 : 32, eh = o >= 5 ? 32 : 16;
            CHECK_MSG(img.w == ew && img.h == eh, "%s: size %dx%d, expected %dx%d", name, img.w,
                      img.h, ew, eh);
            if (img.data) {
                int got[4] = {quadrant_at(&img, 0, 0), quadrant_at(&img, 1, 0),
                              quadrant_at(&img, 0, 1), quadrant_at(&img, 1, 1)};
                CHECK_MSG(memcmp(got, expect[o], sizeof got) == 0,
                          "%s: quadrants %d %d %d %d, expected %d %d %d %d", name, got[0], got[1],
                          got[2], got[3], expect[o][0], expect[o][1], expect[o][2], expect[o][3]);
            }
            image_free(&img);
            /* probe reports the displayed size */
            const char *p = tmp_path(name);
            write_bytes(p, ex, n);
            int pw = 0, ph = 0;
            image_format fmt;
            CHECK_EQ_INT(image_probe(p, &pw, &ph, &fmt), YOLOC_OK);
            CHECK_EQ_INT(fmt, IMAGE_FMT_JPEG);
            CHECK_MSG(pw == ew && ph == eh, "probe %s: %dx%d, expected %dx%d", name, pw, ph, ew,
                      eh);
            unlink(p);
            free(ex);
        }
    }
    /* A malformed EXIF block (IFD offset past the end) is ignored, not fatal. */
    size_t n;
    unsigned char *ex = jpeg_with_exif(jpg, len, 6, 1, &n);
    ex[12 + 4] = 0xf0; /* IFD offset low byte -> far out of the segment */
    image img;
    CHECK_EQ_INT(image_decode(ex, n, "badexif.jpg", &img), YOLOC_OK);
    CHECK_EQ_INT(img.w, 32);
    image_free(&img);
    free(ex);
    free(jpg);
    image_free(&src);
}

/* ----------------------------------------------------------------- PNG -- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} membuf;

static void mem_write(png_structp png, png_bytep data, size_t n) {
    membuf *m = png_get_io_ptr(png);
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->n, data, n);
    m->n += n;
}
static void mem_flush(png_structp png) {
    (void)png;
}

/* Sample value v (0-255 scale) of pixel (x, y), channel c, for the test pattern. */
static int pattern(int x, int y, int c) {
    return (x * 37 + y * 91 + c * 53) & 255;
}

/* Builds a w x h PNG of colour type ct and depth d from the pattern; fills
 * expect (w*h*3) with the RGB a correct decoder must return. */
static membuf png_make(int w, int h, int ct, int d, int interlace, int trns, uint8_t *expect) {
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, w, h, d, ct, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    int maxv = (1 << d) - 1;
    png_color pal[256];
    int npal = ct == PNG_COLOR_TYPE_PALETTE ? 1 << d : 0;
    for (int i = 0; i < npal; i++)
        pal[i].red = (png_byte)(i * 7), pal[i].green = (png_byte)(255 - i),
        pal[i].blue = (png_byte)(i * 3 + 1);
    if (npal) png_set_PLTE(png, info, pal, npal);
    if (trns && npal) {
        png_byte alpha[1] = {0};
        png_set_tRNS(png, info, alpha, 1, NULL);
    }
    png_write_info(png, info);
    int chans = ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_PALETTE ? 1
                : ct == PNG_COLOR_TYPE_GRAY_ALPHA                         ? 2
                : ct == PNG_COLOR_TYPE_RGB                                ? 3
                                                                          : 4;
    size_t rowbytes = ((size_t)w * chans * d + 7) / 8;
    png_bytep *rows = malloc(sizeof(png_bytep) * h);
    for (int y = 0; y < h; y++) {
        rows[y] = calloc(rowbytes, 1);
        for (int x = 0; x < w; x++) {
            uint8_t *e = expect + ((size_t)y * w + x) * 3;
            for (int c = 0; c < chans; c++) {
                int v; /* sample in [0, maxv] */
                if (ct == PNG_COLOR_TYPE_PALETTE)
                    v = pattern(x, y, 0) % (npal);
                else
                    v = (int)((long)pattern(x, y, c) * maxv / 255);
                if (d == 16) v = pattern(x, y, c) * 257 + (x & 1); /* low byte must be dropped */
                if (d < 8) {
                    int per = 8 / d, bit = (x % per) * d;
                    rows[y][x / per] |= (png_byte)(v << (8 - d - bit));
                } else if (d == 8) {
                    rows[y][(size_t)x * chans + c] = (png_byte)v;
                } else {
                    rows[y][((size_t)x * chans + c) * 2] = (png_byte)(v >> 8);
                    rows[y][((size_t)x * chans + c) * 2 + 1] = (png_byte)v;
                }
                /* expected output */
                int v8 = d == 16 ? v >> 8 : d < 8 ? v * 255 / maxv : v;
                if (ct == PNG_COLOR_TYPE_PALETTE) {
                    e[0] = pal[v].red, e[1] = pal[v].green, e[2] = pal[v].blue;
                } else if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) {
                    if (c == 0) e[0] = e[1] = e[2] = (uint8_t)v8;
                } else if (c < 3) {
                    e[c] = (uint8_t)v8;
                }
            }
        }
    }
    png_write_image(png, rows);
    png_write_end(png, NULL);
    for (int y = 0; y < h; y++) free(rows[y]);
    free(rows);
    png_destroy_write_struct(&png, &info);
    return m;
}

static void test_png_colour_types(void) {
    static const struct {
        int ct, d, interlace, trns;
    } cases[] = {
        {PNG_COLOR_TYPE_GRAY, 1, 0, 0},        {PNG_COLOR_TYPE_GRAY, 2, 0, 0},
        {PNG_COLOR_TYPE_GRAY, 4, 0, 0},        {PNG_COLOR_TYPE_GRAY, 8, 0, 0},
        {PNG_COLOR_TYPE_GRAY, 16, 0, 0},       {PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, 0},
        {PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0, 0}, {PNG_COLOR_TYPE_PALETTE, 1, 0, 0},
        {PNG_COLOR_TYPE_PALETTE, 2, 0, 0},     {PNG_COLOR_TYPE_PALETTE, 4, 0, 1},
        {PNG_COLOR_TYPE_PALETTE, 8, 0, 1},     {PNG_COLOR_TYPE_RGB, 8, 0, 0},
        {PNG_COLOR_TYPE_RGB, 16, 0, 0},        {PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, 0},
        {PNG_COLOR_TYPE_RGB_ALPHA, 16, 0, 0},  {PNG_COLOR_TYPE_RGB, 8, 1, 0},
        {PNG_COLOR_TYPE_PALETTE, 4, 1, 0},     {PNG_COLOR_TYPE_GRAY, 1, 1, 0},
    };
    const int w = 13, h = 7; /* odd sizes: partial bytes at low depths */
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t expect[13 * 7 * 3];
        memset(expect, 0, sizeof expect);
        membuf m =
            png_make(w, h, cases[k].ct, cases[k].d, cases[k].interlace, cases[k].trns, expect);
        image img;
        status st = image_decode(m.p, m.n, "case.png", &img);
        CHECK_MSG(st == YOLOC_OK, "png ct %d depth %d interlace %d: %s", cases[k].ct, cases[k].d,
                  cases[k].interlace, yoloc_last_error());
        if (st == YOLOC_OK) {
            CHECK_EQ_INT(img.w, w);
            CHECK_EQ_INT(img.h, h);
            size_t bad = 0, first = 0;
            for (size_t i = 0; i < sizeof expect; i++)
                if (img.data[i] != expect[i] && !bad++) first = i;
            CHECK_MSG(bad == 0, "png ct %d depth %d: %zu bytes differ, first at %zu (%d vs %d)",
                      cases[k].ct, cases[k].d, bad, first, img.data[first], expect[first]);
        }
        image_free(&img);
        /* probe agrees */
        const char *p = tmp_path("probe.png");
        write_bytes(p, m.p, m.n);
        int pw, ph;
        CHECK_EQ_INT(image_probe(p, &pw, &ph, NULL), YOLOC_OK);
        CHECK(pw == w && ph == h);
        free(m.p);
    }
}

/* ----------------------------------------------------------------- BMP -- */

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
    p[3] = (unsigned char)(v >> 24);
}
static void put16(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
}

/* BMP of w x h from the pattern; bpp 8 (palette), 24 or 32. */
static size_t bmp_make(unsigned char *out, int w, int h, int bpp, int topdown, uint32_t compression,
                       uint8_t *expect) {
    int npal = bpp == 8 ? 256 : 0;
    size_t stride = (((size_t)w * bpp + 31) / 32) * 4;
    uint32_t off = 14 + 40 + (uint32_t)npal * 4;
    size_t total = off + stride * h;
    memset(out, 0, total);
    out[0] = 'B', out[1] = 'M';
    put32(out + 2, (uint32_t)total);
    put32(out + 10, off);
    put32(out + 14, 40);
    put32(out + 18, (uint32_t)w);
    put32(out + 22, (uint32_t)(topdown ? -h : h));
    put16(out + 26, 1);
    put16(out + 28, (unsigned)bpp);
    put32(out + 30, compression);
    for (int i = 0; i < npal; i++) {
        unsigned char *e = out + 54 + 4 * i;
        e[0] = (unsigned char)(255 - i), e[1] = (unsigned char)(i / 2),
        e[2] = (unsigned char)i; /* BGR */
    }
    for (int y = 0; y < h; y++) {
        int row = topdown ? y : h - 1 - y;
        unsigned char *r = out + off + stride * row;
        for (int x = 0; x < w; x++) {
            uint8_t *e = expect + ((size_t)y * w + x) * 3;
            if (bpp == 8) {
                int i = pattern(x, y, 0);
                r[x] = (unsigned char)i;
                e[0] = (uint8_t)i, e[1] = (uint8_t)(i / 2), e[2] = (uint8_t)(255 - i);
            } else {
                unsigned char *s = r + (size_t)x * (bpp / 8);
                for (int c = 0; c < 3; c++) e[c] = (uint8_t)pattern(x, y, c);
                s[0] = e[2], s[1] = e[1], s[2] = e[0];
                if (bpp == 32) s[3] = 0x55;
            }
        }
    }
    return total;
}

static void test_bmp(void) {
    static unsigned char buf[4096];
    uint8_t expect[5 * 3 * 3];
    static const struct {
        int bpp, topdown;
    } cases[] = {{24, 0}, {24, 1}, {32, 0}, {32, 1}, {8, 0}, {8, 1}};
    for (size_t k = 0; k < 6; k++) {
        size_t n = bmp_make(buf, 5, 3, cases[k].bpp, cases[k].topdown, 0, expect);
        image img;
        status st = image_decode(buf, n, "case.bmp", &img);
        const char *p = tmp_path("case.bmp");
        write_bytes(p, buf, n);
        int pw = 0, ph = 0;
        image_format fmt;
        CHECK_EQ_INT(image_probe(p, &pw, &ph, &fmt), YOLOC_OK);
        CHECK(pw == 5 && ph == 3 && fmt == IMAGE_FMT_BMP);
        CHECK_MSG(st == YOLOC_OK, "bmp %d-bit topdown %d: %s", cases[k].bpp, cases[k].topdown,
                  yoloc_last_error());
        if (st == YOLOC_OK) {
            CHECK_EQ_INT(img.w, 5);
            CHECK_EQ_INT(img.h, 3);
            CHECK_MSG(memcmp(img.data, expect, sizeof expect) == 0,
                      "bmp %d-bit topdown %d: pixels differ", cases[k].bpp, cases[k].topdown);
        }
        image_free(&img);
    }
    image img;
    size_t n = bmp_make(buf, 5, 3, 24, 0, 1 /* BI_RLE8 */, expect);
    CHECK_EQ_INT(image_decode(buf, n, "rle.bmp", &img), YOLOC_ERR_UNSUPPORTED);
    CHECK_CONTAINS(yoloc_last_error(), "rle.bmp: unsupported BMP: compression type 1");
    n = bmp_make(buf, 5, 3, 24, 0, 0, expect);
    put16(buf + 28, 4);
    CHECK_EQ_INT(image_decode(buf, n, "four.bmp", &img), YOLOC_ERR_UNSUPPORTED);
    CHECK_CONTAINS(yoloc_last_error(), "4 bits per pixel");
    n = bmp_make(buf, 5, 3, 24, 0, 0, expect);
    CHECK_EQ_INT(image_decode(buf, n - 5, "short.bmp", &img), YOLOC_ERR_PARSE);
    CHECK_CONTAINS(yoloc_last_error(), "short.bmp: truncated BMP");
}

/* ---------------------------------------------------- save and corrupt -- */

static void test_round_trip(void) {
    image src;
    make_quadrants(&src, 40, 24);
    for (size_t i = 0; i < (size_t)40 * 24 * 3; i++) src.data[i] = (uint8_t)(src.data[i] ^ (i % 7));
    const char *p = tmp_path("rt.png");
    CHECK_EQ_INT(image_save(p, &src, 0), YOLOC_OK);
    image back;
    CHECK_EQ_INT(image_load(p, &back), YOLOC_OK);
    CHECK(back.w == 40 && back.h == 24 && back.data &&
          memcmp(back.data, src.data, (size_t)40 * 24 * 3) == 0);
    image_free(&back);
    p = tmp_path("rt.JPG");
    CHECK_EQ_INT(image_save(p, &src, 95), YOLOC_OK);
    CHECK_EQ_INT(image_load(p, &back), YOLOC_OK);
    if (back.data) {
        CHECK(back.w == 40 && back.h == 24);
        double err = 0;
        for (size_t i = 0; i < (size_t)40 * 24 * 3; i++) err += abs(back.data[i] - src.data[i]);
        CHECK_MSG(err / (40 * 24 * 3) < 6, "JPEG q95 mean abs error %.2f", err / (40 * 24 * 3));
    }
    image_free(&back);
    /* no temporary files left behind */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp > /dev/null", g_dir);
    CHECK_MSG(system(cmd) != 0, "a temporary file was left in %s", g_dir);
    CHECK_EQ_INT(image_save(tmp_path("x.gif"), &src, 90), YOLOC_ERR_INVALID);
    CHECK_EQ_INT(image_save(tmp_path("no/such/dir/x.png"), &src, 90), YOLOC_ERR_IO);
    CHECK_CONTAINS(yoloc_last_error(), "no/such/dir/x.png");
    image_free(&src);
}

static void test_corrupt(void) {
    image img, src;
    make_quadrants(&src, 128, 96); /* with texture: the scan data dominates the file */
    for (size_t i = 0; i < (size_t)128 * 96 * 3; i++)
        src.data[i] = (uint8_t)(src.data[i] ^ ((i * 7919) % 31));
    unsigned long len;
    unsigned char *jpg = jpeg_encode(src.data, 128, 96, TJPF_RGB, TJSAMP_420, &len);

    const char *p = tmp_path("empty.jpg");
    write_bytes(p, "", 0);
    CHECK_EQ_INT(image_load(p, &img), YOLOC_ERR_PARSE);
    CHECK_CONTAINS(yoloc_last_error(), "empty.jpg: empty file");
    CHECK(img.data == NULL);
    CHECK(image_probe(p, &img.w, &img.h, NULL) < 0);

    p = tmp_path("text.jpg");
    write_bytes(p, "hello, I am not a picture\n", 26);
    CHECK_EQ_INT(image_load(p, &img), YOLOC_ERR_PARSE);
    CHECK_CONTAINS(yoloc_last_error(), "text.jpg: not an image");
    CHECK(image_probe(p, &img.w, &img.h, NULL) < 0);

    CHECK_EQ_INT(image_load(tmp_path("missing.png"), &img), YOLOC_ERR_IO);
    CHECK_CONTAINS(yoloc_last_error(), "missing.png: cannot open");

    /* truncated inside the scan data: error */
    CHECK_EQ_INT(image_decode(jpg, len / 2, "half.jpg", &img), YOLOC_ERR_PARSE);
    CHECK_CONTAINS(yoloc_last_error(), "half.jpg: truncated JPEG");
    CHECK(img.data == NULL);
    /* header only */
    CHECK(image_decode(jpg, 40, "head.jpg", &img) < 0);
    CHECK(image_decode(jpg, 3, "three.jpg", &img) < 0);
    /* only the end marker missing: kept, with a note */
    image_notes notes;
    CHECK_EQ_INT(image_decode_ex(jpg, len - 2, "noeoi.jpg", &img, &notes), YOLOC_OK);
    CHECK_EQ_INT(notes.no_eoi, 1);
    CHECK_CONTAINS(notes.msg, "end marker missing");
    CHECK_EQ_INT(quadrant_at(&img, 1, 1), Q_W);
    image_free(&img);
    CHECK_EQ_INT(image_decode_ex(jpg, len, "ok.jpg", &img, &notes), YOLOC_OK);
    CHECK_EQ_INT(notes.no_eoi + notes.corrupt_data, 0);
    image_free(&img);
    /* junk bytes before the start-of-scan marker: a libjpeg-turbo warning
     * ("extraneous bytes before marker") on a complete file -> kept, with a
     * note (junk after the scan is never read, so it is not even noticed) */
    size_t sos = 0;
    for (size_t i = 2; i + 1 < len; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xda) {
            sos = i;
            break;
        }
    CHECK(sos > 0);
    unsigned char *junk = malloc(len + 2);
    memcpy(junk, jpg, sos);
    junk[sos] = 0x00, junk[sos + 1] = 0x01;
    memcpy(junk + sos + 2, jpg + sos, len - sos);
    CHECK_MSG(image_decode_ex(junk, len + 2, "junk.jpg", &img, &notes) == YOLOC_OK, "%s",
              yoloc_last_error());
    CHECK_EQ_INT(notes.corrupt_data, 1);
    CHECK_CONTAINS(notes.msg, "corrupt JPEG data recovered (");
    CHECK_EQ_INT(quadrant_at(&img, 0, 0), Q_R);
    image_free(&img);
    free(junk);
    /* scan data garbled (but complete file): must not crash, any outcome */
    unsigned char *bad = malloc(len);
    memcpy(bad, jpg, len);
    for (size_t i = len / 2; i < len / 2 + 40; i++) bad[i] = (unsigned char)(i * 13);
    if (image_decode(bad, len, "garbled.jpg", &img) == YOLOC_OK) image_free(&img);
    free(bad);

    /* PNG: truncated, and a corrupted IDAT (CRC mismatch) */
    uint8_t expect[20 * 10 * 3];
    membuf m = png_make(20, 10, PNG_COLOR_TYPE_RGB, 8, 0, 0, expect);
    CHECK_EQ_INT(image_decode(m.p, m.n - 30, "cut.png", &img), YOLOC_ERR_PARSE);
    CHECK_CONTAINS(yoloc_last_error(), "cut.png: corrupt PNG");
    CHECK(img.data == NULL);
    size_t idat = 0;
    for (size_t i = 8; i + 4 < m.n; i++)
        if (memcmp(m.p + i, "IDAT", 4) == 0) {
            idat = i;
            break;
        }
    CHECK(idat > 0);
    m.p[idat + 8] ^= 0x5a;
    CHECK_EQ_INT(image_decode(m.p, m.n, "crc.png", &img), YOLOC_ERR_PARSE);
    CHECK_CONTAINS(yoloc_last_error(), "crc.png: corrupt PNG");
    free(m.p);
    free(jpg);
    image_free(&src);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/yoloc_test_image_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_jpeg_colour_types();
    test_exif_orientation();
    test_png_colour_types();
    test_bmp();
    test_round_trip();
    test_corrupt();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return test_finish("test_image");
}
