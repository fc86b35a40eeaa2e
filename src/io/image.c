/* Image decoding and encoding: JPEG through the TurboJPEG API (with our own
 * EXIF orientation parser), PNG through libpng, BMP by hand.
 *
 * Every decoder works from a memory buffer and checks every offset against
 * its length, so hostile bytes give an error, never a read out of bounds.
 * No state is shared between calls (one TurboJPEG handle and one libpng
 * struct per call), so all functions are thread-safe. Left out: TIFF, WebP,
 * GIF, 16-bit output, colour management (ICC profiles are ignored), PNG gamma. */
#include "io/image.h"

#include "io/file.h"

#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <turbojpeg.h>

#define IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

/* Sets "<name>: <message>" (or just the message when name is empty). */
static status img_fail(status st, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static status img_fail(status st, const char *name, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (name && name[0]) return err_set(st, "%s: %s", name, msg);
    return err_set(st, "%s", msg);
}

static status img_alloc(image *img, int w, int h, const char *name) {
    if (w <= 0 || h <= 0 || (size_t)w * (size_t)h > IMAGE_MAX_PIXELS)
        return img_fail(YOLOC_ERR_UNSUPPORTED, name, "image size %dx%d is outside 1..%zu pixels", w,
                        h, IMAGE_MAX_PIXELS);
    img->data = malloc((size_t)w * (size_t)h * 3);
    if (!img->data) return img_fail(YOLOC_ERR_NOMEM, name, "out of memory for a %dx%d image", w, h);
    img->w = w;
    img->h = h;
    return YOLOC_OK;
}

void image_free(image *img) {
    if (!img) return;
    free(img->data);
    img->data = NULL;
    img->w = img->h = 0;
}

image_format image_sniff(const void *buf, size_t len) {
    const unsigned char *p = buf;
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return IMAGE_FMT_JPEG;
    if (len >= 8 && memcmp(p, png_sig, 8) == 0) return IMAGE_FMT_PNG;
    if (len >= 2 && p[0] == 'B' && p[1] == 'M') return IMAGE_FMT_BMP;
    return IMAGE_FMT_UNKNOWN;
}

/* ---------------------------------------------------------------- EXIF -- */

typedef struct {
    const unsigned char *p;
    size_t n;
    int le; /* little-endian ("II") */
} tiff_view;

static int tiff_u16(const tiff_view *t, size_t at, unsigned *out) {
    if (at > t->n || t->n - at < 2) return -1;
    const unsigned char *q = t->p + at;
    *out = t->le ? (unsigned)(q[0] | q[1] << 8) : (unsigned)(q[0] << 8 | q[1]);
    return 0;
}

static int tiff_u32(const tiff_view *t, size_t at, uint32_t *out) {
    if (at > t->n || t->n - at < 4) return -1;
    const unsigned char *q = t->p + at;
    *out =
        t->le
            ? ((uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24)
            : ((uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | (uint32_t)q[3]);
    return 0;
}

/* Orientation tag (0x0112) of IFD0 in a TIFF block, 0 when absent/invalid. */
static int tiff_orientation(const unsigned char *p, size_t n) {
    tiff_view t = {p, n, 0};
    if (n < 8) return 0;
    if (p[0] == 'I' && p[1] == 'I')
        t.le = 1;
    else if (!(p[0] == 'M' && p[1] == 'M'))
        return 0;
    unsigned magic, count;
    uint32_t ifd;
    if (tiff_u16(&t, 2, &magic) || magic != 42 || tiff_u32(&t, 4, &ifd)) return 0;
    if (tiff_u16(&t, ifd, &count)) return 0;
    for (unsigned k = 0; k < count; k++) {
        size_t e = (size_t)ifd + 2 + (size_t)k * 12;
        unsigned tag, type;
        uint32_t cnt;
        if (tiff_u16(&t, e, &tag) || tiff_u16(&t, e + 2, &type) || tiff_u32(&t, e + 4, &cnt))
            return 0;
        if (tag != 0x0112) continue;
        uint32_t v = 0;
        if (cnt < 1) return 0;
        if (type == 3) { /* SHORT: value left-justified in the 4-byte field */
            unsigned s;
            if (tiff_u16(&t, e + 8, &s)) return 0;
            v = s;
        } else if (type == 4) { /* LONG, written by a few tools */
            if (tiff_u32(&t, e + 8, &v)) return 0;
        } else {
            return 0;
        }
        return v >= 1 && v <= 8 ? (int)v : 0;
    }
    return 0;
}

/* EXIF orientation (1-8) from the first APP1 "Exif" segment before the
 * first scan; 1 when there is none or it is malformed. */
static int jpeg_exif_orientation(const unsigned char *p, size_t n) {
    if (n < 4 || p[0] != 0xff || p[1] != 0xd8) return 1;
    size_t i = 2;
    while (i + 4 <= n) {
        if (p[i] != 0xff) return 1;
        unsigned m = p[i + 1];
        if (m == 0xff) { /* fill byte */
            i++;
            continue;
        }
        if (m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7)) { /* no length field */
            i += 2;
            continue;
        }
        if (m == 0xda || m == 0xd9) return 1; /* scan or end: no EXIF before it */
        size_t len = (size_t)p[i + 2] << 8 | p[i + 3];
        if (len < 2 || len > n - i - 2) return 1;
        const unsigned char *seg = p + i + 4;
        size_t seglen = len - 2;
        if (m == 0xe1 && seglen >= 6 && memcmp(seg, "Exif\0\0", 6) == 0) {
            int o = tiff_orientation(seg + 6, seglen - 6);
            return o ? o : 1;
        }
        i += 2 + len;
    }
    return 1;
}

/* Applies EXIF orientation o (2-8) to img in place (new buffer). For each
 * output pixel (x, y) the source pixel (sx, sy) of the stored W x H image:
 * 2 mirror: (W-1-x, y); 3 rotate 180: (W-1-x, H-1-y); 4 flip: (x, H-1-y);
 * 5 transpose: (y, x); 6 rotate 90 cw: (y, H-1-x); 7 transverse:
 * (W-1-y, H-1-x); 8 rotate 90 ccw: (W-1-y, x). 5-8 swap width and height. */
static status image_orient(image *img, int o, const char *name) {
    if (o <= 1 || o > 8) return YOLOC_OK;
    int W = img->w, H = img->h;
    int ow = o >= 5 ? H : W, oh = o >= 5 ? W : H;
    uint8_t *out = malloc((size_t)W * (size_t)H * 3);
    if (!out) return img_fail(YOLOC_ERR_NOMEM, name, "out of memory rotating a %dx%d image", W, H);
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (o) {
            case 2:
                sx = W - 1 - x, sy = y;
                break;
            case 3:
                sx = W - 1 - x, sy = H - 1 - y;
                break;
            case 4:
                sx = x, sy = H - 1 - y;
                break;
            case 5:
                sx = y, sy = x;
                break;
            case 6:
                sx = y, sy = H - 1 - x;
                break;
            case 7:
                sx = W - 1 - y, sy = H - 1 - x;
                break;
            default:
                sx = W - 1 - y, sy = x;
                break;
            }
            const uint8_t *s = img->data + ((size_t)sy * W + sx) * 3;
            uint8_t *d = out + ((size_t)y * ow + x) * 3;
            d[0] = s[0], d[1] = s[1], d[2] = s[2];
        }
    }
    free(img->data);
    img->data = out;
    img->w = ow;
    img->h = oh;
    return YOLOC_OK;
}

/* ---------------------------------------------------------------- JPEG -- */

typedef enum { TJ_OK = 0, TJ_WARNING, TJ_FATAL } tj_result;

/* One decompression into RGB (or CMYK, converted to RGB). *msg gets the
 * libjpeg-turbo message on a warning or error. */
static tj_result jpeg_run(const unsigned char *buf, size_t len, int w, int h, int cmyk, int flags,
                          uint8_t *rgb, char *msg, size_t cap) {
    tjhandle tj = tjInitDecompress();
    if (!tj) {
        snprintf(msg, cap, "cannot create a JPEG decompressor");
        return TJ_FATAL;
    }
    uint8_t *dst = rgb;
    if (cmyk && !(dst = malloc((size_t)w * (size_t)h * 4))) {
        tjDestroy(tj);
        snprintf(msg, cap, "out of memory");
        return TJ_FATAL;
    }
    tj_result res = TJ_OK;
    if (tjDecompress2(tj, buf, (unsigned long)len, dst, w, 0, h, cmyk ? TJPF_CMYK : TJPF_RGB,
                      flags) != 0) {
        res = tjGetErrorCode(tj) == TJERR_WARNING ? TJ_WARNING : TJ_FATAL;
        snprintf(msg, cap, "%s", tjGetErrorStr2(tj));
    }
    if (cmyk) {
        /* TurboJPEG returns Adobe-style inverted CMYK (as Photoshop writes):
         * R = C*K/255 and so on, the conversion OpenCV and libjpeg-turbo's
         * own tools use. */
        size_t np = (size_t)w * (size_t)h;
        for (size_t i = 0; i < np; i++) {
            unsigned k = dst[4 * i + 3];
            for (int c = 0; c < 3; c++)
                rgb[3 * i + c] = (uint8_t)((dst[4 * i + c] * k + 127) / 255);
        }
        free(dst);
    }
    tjDestroy(tj);
    return res;
}

static status jpeg_header(const unsigned char *buf, size_t len, const char *name, int *w, int *h,
                          int *cs) {
    tjhandle tj = tjInitDecompress();
    if (!tj) return img_fail(YOLOC_ERR_NOMEM, name, "cannot create a JPEG decompressor");
    int subsamp = -1;
    *w = *h = 0;
    int rc = tjDecompressHeader3(tj, buf, (unsigned long)len, w, h, &subsamp, cs);
    status st = YOLOC_OK;
    /* TurboJPEG 2.x also fails on a header warning (e.g. extraneous bytes
     * before a marker) after filling the fields: the decode decides then. */
    int warned = rc != 0 && tjGetErrorCode(tj) == TJERR_WARNING && *w > 0 && *h > 0 && subsamp >= 0;
    if (rc != 0 && !warned)
        st = img_fail(YOLOC_ERR_PARSE, name, "corrupt JPEG header (%s)", tjGetErrorStr2(tj));
    tjDestroy(tj);
    return st;
}

static int jpeg_ends_with_eoi(const unsigned char *buf, size_t len) {
    return len >= 2 && buf[len - 2] == 0xff && buf[len - 1] == 0xd9;
}

static status jpeg_decode(const unsigned char *buf, size_t len, const char *name, image *img,
                          image_notes *notes) {
    int w, h, cs;
    TRY(jpeg_header(buf, len, name, &w, &h, &cs));
    int cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    TRY(img_alloc(img, w, h, name));
    char msg[200] = "";
    /* First pass stops at the first warning, so a truncated (or hostile)
     * file costs little; then the rule in image.h decides. */
    tj_result r = jpeg_run(buf, len, w, h, cmyk, TJFLAG_STOPONWARNING, img->data, msg, sizeof msg);
    if (r == TJ_WARNING) {
        if (!jpeg_ends_with_eoi(buf, len)) {
            unsigned char *fixed = malloc(len + 2);
            if (!fixed) {
                image_free(img);
                return img_fail(YOLOC_ERR_NOMEM, name, "out of memory");
            }
            memcpy(fixed, buf, len);
            fixed[len] = 0xff, fixed[len + 1] = 0xd9;
            char msg2[200] = "";
            tj_result r2 = jpeg_run(fixed, len + 2, w, h, cmyk, TJFLAG_STOPONWARNING, img->data,
                                    msg2, sizeof msg2);
            free(fixed);
            if (r2 != TJ_OK) {
                image_free(img);
                return img_fail(YOLOC_ERR_PARSE, name, "truncated JPEG (%s)", msg);
            }
            if (notes) {
                notes->no_eoi = 1;
                snprintf(notes->msg, sizeof notes->msg, "JPEG end marker missing (decoded, kept)");
            }
        } else {
            char msg2[200] = "";
            tj_result r2 = jpeg_run(buf, len, w, h, cmyk, 0, img->data, msg2, sizeof msg2);
            if (r2 == TJ_FATAL) {
                r = TJ_FATAL;
                memcpy(msg, msg2, sizeof msg2 < sizeof msg ? sizeof msg2 : sizeof msg);
                msg[sizeof msg - 1] = 0;
            }
            else if (notes) {
                notes->corrupt_data = 1;
                snprintf(notes->msg, sizeof notes->msg, "corrupt JPEG data recovered (%.120s)",
                         msg);
            }
        }
    }
    if (r == TJ_FATAL) {
        image_free(img);
        return img_fail(YOLOC_ERR_PARSE, name, "corrupt JPEG (%s)", msg);
    }
    status st = image_orient(img, jpeg_exif_orientation(buf, len), name);
    if (st < 0) image_free(img);
    return st;
}

/* ----------------------------------------------------------------- PNG -- */

typedef struct {
    const unsigned char *p;
    size_t n, off;
} png_src;

typedef struct {
    jmp_buf jmp;
    char msg[200];
} png_err_ctx;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_err_ctx *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jmp, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png, (void)msg;
}

static void png_read_mem(png_structp png, png_bytep out, size_t n) {
    png_src *s = png_get_io_ptr(png);
    if (n > s->n - s->off) png_error(png, "file ends early (truncated PNG)");
    memcpy(out, s->p + s->off, n);
    s->off += n;
}

static status png_decode(const unsigned char *buf, size_t len, const char *name, image *img) {
    png_err_ctx err;
    err.msg[0] = 0;
    png_src src = {buf, len, 0};
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_on_error, png_on_warning);
    if (!png) return img_fail(YOLOC_ERR_NOMEM, name, "cannot create a PNG decoder");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return img_fail(YOLOC_ERR_NOMEM, name, "cannot create a PNG decoder");
    }
    /* Written after setjmp and read after longjmp: must be volatile. */
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(err.jmp)) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return img_fail(YOLOC_ERR_PARSE, name, "corrupt PNG (%s)", err.msg);
    }
    png_set_read_fn(png, &src, png_read_mem);
    png_set_user_limits(png, 1u << 20, 1u << 20);
    png_set_chunk_malloc_max(png, (png_alloc_size_t)64 << 20);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), ctype = png_get_color_type(png, info);
    if ((size_t)w * (size_t)h > IMAGE_MAX_PIXELS) {
        png_destroy_read_struct(&png, &info, NULL);
        return img_fail(YOLOC_ERR_UNSUPPORTED, name, "PNG of %ux%u pixels is over the limit of %zu",
                        (unsigned)w, (unsigned)h, IMAGE_MAX_PIXELS);
    }
    /* Everything to 8-bit RGB: palette expanded, low-depth gray widened,
     * 16-bit truncated to the high byte, alpha (and tRNS) dropped. */
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    if ((ctype & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png); /* the palette expansion turns tRNS into alpha */
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) png_error(png, "unexpected row layout");
    pixels = malloc((size_t)w * h * 3);
    rows = malloc(sizeof(png_bytep) * h);
    if (!pixels || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = pixels + (size_t)y * w * 3;
    png_read_image(png, rows);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    img->data = pixels;
    img->w = (int)w;
    img->h = (int)h;
    return YOLOC_OK;
}

/* Header fields of a PNG (signature + IHDR), validated. */
static status png_probe_mem(const unsigned char *p, size_t n, const char *name, int *w, int *h) {
    if (n < 33 || memcmp(p + 12, "IHDR", 4) != 0 || p[8] || p[9] || p[10] || p[11] != 13)
        return img_fail(YOLOC_ERR_PARSE, name, "corrupt PNG (no IHDR chunk)");
    uint32_t pw = (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 | (uint32_t)p[18] << 8 | p[19];
    uint32_t ph = (uint32_t)p[20] << 24 | (uint32_t)p[21] << 16 | (uint32_t)p[22] << 8 | p[23];
    if (pw == 0 || ph == 0 || pw > (1u << 20) || ph > (1u << 20))
        return img_fail(YOLOC_ERR_PARSE, name, "corrupt PNG (size %ux%u)", (unsigned)pw,
                        (unsigned)ph);
    *w = (int)pw;
    *h = (int)ph;
    return YOLOC_OK;
}

/* ----------------------------------------------------------------- BMP -- */

static uint32_t rd_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static unsigned rd_le16(const unsigned char *p) {
    return (unsigned)(p[0] | p[1] << 8);
}

typedef struct {
    int w, h, topdown, bpp;
    uint32_t offset, ncolors, palette_at, palette_entry;
} bmp_info;

static status bmp_parse(const unsigned char *p, size_t n, const char *name, bmp_info *b) {
    if (n < 26) return img_fail(YOLOC_ERR_PARSE, name, "corrupt BMP (file too short)");
    memset(b, 0, sizeof *b);
    b->offset = rd_le32(p + 10);
    uint32_t hsize = rd_le32(p + 14);
    int64_t w, h;
    unsigned planes;
    uint32_t compression = 0;
    if (hsize == 12) { /* BITMAPCOREHEADER */
        w = rd_le16(p + 18);
        h = rd_le16(p + 20);
        planes = rd_le16(p + 22);
        b->bpp = (int)rd_le16(p + 24);
        b->palette_entry = 3;
    } else if (hsize >= 40 && hsize <= 124) {
        if (n < 14 + (size_t)hsize)
            return img_fail(YOLOC_ERR_PARSE, name, "corrupt BMP (header cut)");
        w = (int32_t)rd_le32(p + 18);
        h = (int32_t)rd_le32(p + 22);
        planes = rd_le16(p + 26);
        b->bpp = (int)rd_le16(p + 28);
        compression = rd_le32(p + 30);
        b->ncolors = rd_le32(p + 46);
        b->palette_entry = 4;
    } else {
        return img_fail(YOLOC_ERR_UNSUPPORTED, name, "unsupported BMP header size %u",
                        (unsigned)hsize);
    }
    if (planes != 1) return img_fail(YOLOC_ERR_PARSE, name, "corrupt BMP (%u planes)", planes);
    if (h < 0) b->topdown = 1, h = -h;
    if (w <= 0 || h <= 0 || w > (1 << 20) || h > (1 << 20))
        return img_fail(YOLOC_ERR_PARSE, name, "corrupt BMP (size %lldx%lld)", (long long)w,
                        (long long)h);
    b->w = (int)w;
    b->h = (int)h;
    if (b->bpp != 8 && b->bpp != 24 && b->bpp != 32)
        return img_fail(
            YOLOC_ERR_UNSUPPORTED, name,
            "unsupported BMP: %d bits per pixel (yoloc reads 24/32-bit and 8-bit palette)", b->bpp);
    if (compression == 3 && b->bpp == 32 && hsize >= 52) { /* BI_BITFIELDS: standard masks only */
        if (rd_le32(p + 54) != 0x00ff0000u || rd_le32(p + 58) != 0x0000ff00u ||
            rd_le32(p + 62) != 0x000000ffu)
            return img_fail(YOLOC_ERR_UNSUPPORTED, name, "unsupported BMP: non-standard bit masks");
    } else if (compression != 0) {
        return img_fail(YOLOC_ERR_UNSUPPORTED, name,
                        "unsupported BMP: compression type %u (yoloc reads uncompressed BMP)",
                        (unsigned)compression);
    }
    b->palette_at = 14 + hsize;
    if (b->bpp == 8) {
        if (b->ncolors == 0 || b->ncolors > 256) b->ncolors = 256;
        /* the palette may be shorter than declared when pixels start early */
        size_t room =
            b->offset > b->palette_at ? (b->offset - b->palette_at) / b->palette_entry : 0;
        if (room < b->ncolors) b->ncolors = (uint32_t)room;
        if (b->ncolors == 0) return img_fail(YOLOC_ERR_PARSE, name, "corrupt BMP (no palette)");
    }
    size_t stride = (((size_t)b->w * (size_t)b->bpp + 31) / 32) * 4;
    if (b->offset > n || (n - b->offset) / stride < (size_t)b->h)
        return img_fail(YOLOC_ERR_PARSE, name, "truncated BMP (pixel data ends early)");
    return YOLOC_OK;
}

static status bmp_decode(const unsigned char *p, size_t n, const char *name, image *img) {
    bmp_info b;
    TRY(bmp_parse(p, n, name, &b));
    TRY(img_alloc(img, b.w, b.h, name));
    uint8_t pal[256][3];
    memset(pal, 0, sizeof pal); /* indices past the palette read as black */
    for (uint32_t i = 0; b.bpp == 8 && i < b.ncolors; i++) {
        const unsigned char *e = p + b.palette_at + (size_t)i * b.palette_entry;
        pal[i][0] = e[2], pal[i][1] = e[1], pal[i][2] = e[0]; /* stored BGR */
    }
    size_t stride = (((size_t)b.w * (size_t)b.bpp + 31) / 32) * 4;
    for (int y = 0; y < b.h; y++) {
        const unsigned char *row = p + b.offset + stride * (size_t)(b.topdown ? y : b.h - 1 - y);
        uint8_t *d = img->data + (size_t)y * b.w * 3;
        for (int x = 0; x < b.w; x++, d += 3) {
            if (b.bpp == 8) {
                const uint8_t *c = pal[row[x]];
                d[0] = c[0], d[1] = c[1], d[2] = c[2];
            } else {
                const unsigned char *s = row + (size_t)x * (size_t)(b.bpp / 8);
                d[0] = s[2], d[1] = s[1], d[2] = s[0];
            }
        }
    }
    return YOLOC_OK;
}

/* ------------------------------------------------------------- public -- */

status image_decode_ex(const void *buf, size_t len, const char *name, image *img,
                       image_notes *notes) {
    img->data = NULL;
    img->w = img->h = 0;
    if (notes) memset(notes, 0, sizeof *notes);
    if (len == 0) return img_fail(YOLOC_ERR_PARSE, name, "empty file");
    switch (image_sniff(buf, len)) {
    case IMAGE_FMT_JPEG:
        return jpeg_decode(buf, len, name, img, notes);
    case IMAGE_FMT_PNG:
        return png_decode(buf, len, name, img);
    case IMAGE_FMT_BMP:
        return bmp_decode(buf, len, name, img);
    default:
        break;
    }
    return img_fail(YOLOC_ERR_PARSE, name, "not an image (content is not JPEG, PNG or BMP)");
}

status image_decode(const void *buf, size_t len, const char *name, image *img) {
    return image_decode_ex(buf, len, name, img, NULL);
}

status image_read_file(const char *path, unsigned char **buf, size_t *len) {
    char *b;
    *buf = NULL;
    TRY(file_read_all(path, IMAGE_MAX_FILE_BYTES, &b, len));
    if (*len == 0) {
        free(b);
        return err_set(YOLOC_ERR_PARSE, "%s: empty file", path);
    }
    *buf = (unsigned char *)b;
    return YOLOC_OK;
}

status image_load(const char *path, image *img) {
    unsigned char *buf;
    size_t len;
    img->data = NULL;
    img->w = img->h = 0;
    TRY(image_read_file(path, &buf, &len));
    status st = image_decode(buf, len, path, img);
    free(buf);
    return st;
}

status image_probe(const char *path, int *w, int *h, image_format *fmt) {
    unsigned char *buf;
    size_t len;
    TRY(image_read_file(path, &buf, &len));
    image_format f = image_sniff(buf, len);
    status st = YOLOC_OK;
    if (f == IMAGE_FMT_JPEG) {
        int cs;
        st = jpeg_header(buf, len, path, w, h, &cs);
        if (st == YOLOC_OK && jpeg_exif_orientation(buf, len) >= 5) {
            int t = *w;
            *w = *h;
            *h = t;
        }
    } else if (f == IMAGE_FMT_PNG) {
        st = png_probe_mem(buf, len, path, w, h);
    } else if (f == IMAGE_FMT_BMP) {
        bmp_info b;
        st = bmp_parse(buf, len, path, &b);
        if (st == YOLOC_OK) *w = b.w, *h = b.h;
    } else {
        st = img_fail(YOLOC_ERR_PARSE, path, "not an image (content is not JPEG, PNG or BMP)");
    }
    free(buf);
    if (fmt) *fmt = st == YOLOC_OK ? f : IMAGE_FMT_UNKNOWN;
    return st;
}

/* ---------------------------------------------------------------- save -- */

static int ext_is(const char *path, const char *ext) {
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    return dot && (!slash || dot > slash) && strcasecmp(dot + 1, ext) == 0;
}

/* libpng write callback: appends to the afile; a failed write has already
 * set the message (with the system's reason) and removed the tmp file. */
static void png_write_afile(png_structp png, png_bytep data, size_t n) {
    if (afile_write(png_get_io_ptr(png), data, n) < 0) png_error(png, "write failed");
}
/* afile_commit flushes. */
static void png_flush_none(png_structp png) {
    (void)png;
}

static status png_write_file(afile *a, const image *img, const char *path) {
    png_err_ctx err;
    err.msg[0] = 0;
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, png_on_error, png_on_warning);
    if (!png) return err_set(YOLOC_ERR_NOMEM, "%s: cannot create a PNG encoder", path);
    png_infop info = png_create_info_struct(png);
    png_bytep *volatile rows = NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return err_set(YOLOC_ERR_NOMEM, "%s: cannot create a PNG encoder", path);
    }
    if (setjmp(err.jmp)) {
        free(rows);
        png_destroy_write_struct(&png, &info);
        if (!a->fp) return YOLOC_ERR_IO; /* afile_write failed: its message stands */
        return err_set(YOLOC_ERR_IO, "%s: PNG write failed (%s)", path, err.msg);
    }
    png_set_write_fn(png, a, png_write_afile, png_flush_none);
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 6);
    png_write_info(png, info);
    rows = malloc(sizeof(png_bytep) * (size_t)img->h);
    if (!rows) png_error(png, "out of memory");
    for (int y = 0; y < img->h; y++) rows[y] = img->data + (size_t)y * img->w * 3;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    return YOLOC_OK;
}

static status jpeg_write_file(afile *a, const image *img, int quality, const char *path) {
    tjhandle tj = tjInitCompress();
    if (!tj) return err_set(YOLOC_ERR_NOMEM, "%s: cannot create a JPEG encoder", path);
    unsigned char *out = NULL;
    unsigned long outlen = 0;
    int q = quality < 1 ? 1 : quality > 100 ? 100 : quality;
    int rc = tjCompress2(tj, img->data, img->w, 0, img->h, TJPF_RGB, &out, &outlen,
                         q >= 90 ? TJSAMP_444 : TJSAMP_420, q, TJFLAG_ACCURATEDCT);
    status st = YOLOC_OK;
    if (rc != 0)
        st = err_set(YOLOC_ERR_IO, "%s: JPEG encoding failed (%s)", path, tjGetErrorStr2(tj));
    else
        st = afile_write(a, out, outlen);
    tjFree(out);
    tjDestroy(tj);
    return st;
}

status image_save(const char *path, const image *img, int jpeg_quality) {
    if (!img || !img->data || img->w <= 0 || img->h <= 0)
        return err_set(YOLOC_ERR_INVALID, "%s: no image to save", path);
    int png = ext_is(path, "png");
    if (!png && !ext_is(path, "jpg") && !ext_is(path, "jpeg"))
        return err_set(YOLOC_ERR_INVALID, "%s: unknown image extension (use .png, .jpg or .jpeg)",
                       path);
    afile a;
    TRY(afile_open(&a, path));
    status st = png ? png_write_file(&a, img, path) : jpeg_write_file(&a, img, jpeg_quality, path);
    if (st < 0) {
        afile_abort(&a);
        return st;
    }
    return afile_commit(&a);
}
