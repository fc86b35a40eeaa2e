/* Prediction on single images (see predict.h). */
#include "train/predict.h"

#include "core/timer.h"
#include "data/augment.h"
#include "io/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void predictor_free(predictor *p) {
    free(p->ws);
    free(p->dets);
    memset(p, 0, sizeof *p);
}

status predict_image(predictor *p, model *m, const image *img, int imgsz, const nms_cfg *cfg) {
    double t0 = time_now();
    p->ndet = 0;
    if (!p->dets && !(p->dets = malloc((size_t)cfg->max_det * 6 * sizeof(float))))
        return err_set(YOLOC_ERR_NOMEM, "out of memory");
    aug_sample s;
    memset(&s, 0, sizeof s);
    s.img.w = img->w;
    s.img.h = img->h;
    s.img.data = malloc((size_t)img->w * img->h * 3);
    if (!s.img.data) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    memcpy(s.img.data, img->data, (size_t)img->w * img->h * 3);
    s.orig_w = img->w;
    s.orig_h = img->h;
    s.ratio_w = s.ratio_h = 1;
    /* Ultralytics' predictor (LetterBox auto=True): the image scaled to fit
     * imgsz, padded only up to the next multiple of the model's stride */
    aug_letterbox_geom g;
    aug_letterbox_compute(img->w, img->h, imgsz, imgsz, 1, 1, &g);
    const int stride = model_stride(m, model_nlevels(m) - 1);
    const int W = g.unpad_w + (imgsz - g.unpad_w) % stride, H = g.unpad_h + (imgsz - g.unpad_h) % stride;
    status st = aug_letterbox(&s, W, H, 1, 0);
    float *x = NULL;
    if (st < 0) goto fail;
    x = malloc((size_t)3 * W * H * sizeof(float));
    if (!x) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    size_t hw = (size_t)W * H;
    for (size_t i = 0; i < hw; i++)
        for (int c = 0; c < 3; c++) x[c * hw + i] = s.img.data[i * 3 + c] / 255.0f;
    TRY_GOTO(st, model_plan(m, 1, H, W, 0));
    const float *out;
    TRY_GOTO(st, model_forward(m, x, &out));
    TRY_GOTO(st, model_output_host(m, &out)); /* NMS runs on the host */
    size_t A = (size_t)model_anchors(m);
    int nc = model_nc(m);
    size_t need = nms_workspace_size(A, nc, cfg);
    if (need > p->ws_bytes) {
        free(p->ws);
        p->ws = malloc(need);
        p->ws_bytes = p->ws ? need : 0;
        if (!p->ws) {
            st = err_set(YOLOC_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    TRY_GOTO(st, nms_image(cfg, out, A, nc, p->ws, p->ws_bytes, p->dets, &p->ndet));
    for (size_t k = 0; k < p->ndet; k++) {
        float *d = p->dets + k * 6;
        for (int j = 0; j < 4; j++) {
            double v = (d[j] - (j % 2 ? s.pad_h : s.pad_w)) / (j % 2 ? s.ratio_h : s.ratio_w);
            double hi = j % 2 ? img->h : img->w;
            d[j] = (float)fmin(fmax(v, 0), hi);
        }
    }
    p->ms = (time_now() - t0) * 1e3;
fail:
    free(x);
    aug_sample_free(&s);
    return st;
}

status predict_draw(const char *path, const image *img, const float *dets, size_t ndet,
                    const char *const *names, int nc, const predict_style *style) {
    predict_style sty = style ? *style : PREDICT_STYLE_DEFAULT;
    plot_canvas cv;
    TRY(plot_canvas_init(&cv, img->w, img->h));
    status st = plot_draw_rgb(cv.cr, img->data, img->w, img->h, 0, 0, 1.0);
    double lw = sty.line_width > 0 ? sty.line_width : fmax(2.0, nearbyint((img->w + img->h + 3) / 2.0 * 0.003)),
           fs = fmax(11.0, (img->w + img->h) / 90.0);
    for (size_t k = 0; k < ndet && st == YOLOC_OK && sty.boxes; k++) {
        const float *d = dets + k * 6;
        int c = (int)d[5];
        char label[128] = "";
        const char *name = names && c >= 0 && c < nc ? names[c] : "?";
        if (sty.labels && sty.conf) snprintf(label, sizeof label, "%s %.2f", name, d[4]);
        else if (sty.labels) snprintf(label, sizeof label, "%s", name);
        plot_draw_box(cv.cr, d[0], d[1], d[2], d[3], plot_palette(c), lw, label, fs);
    }
    size_t n = strlen(path);
    int png = n > 4 && strcmp(path + n - 4, ".png") == 0;
    if (st == YOLOC_OK && png) st = plot_canvas_save(&cv, path);
    if (st == YOLOC_OK && !png) { /* cairo ARGB32 -> RGB, then JPEG */
        cairo_surface_flush(cv.surface);
        const unsigned char *src = cairo_image_surface_get_data(cv.surface);
        int stride = cairo_image_surface_get_stride(cv.surface);
        image out = {img->w, img->h, malloc((size_t)img->w * img->h * 3)};
        if (!out.data) st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        for (int y = 0; st == YOLOC_OK && y < img->h; y++)
            for (int x = 0; x < img->w; x++) {
                uint32_t v;
                memcpy(&v, src + (size_t)y * stride + 4 * x, 4);
                uint8_t *o = out.data + ((size_t)y * img->w + x) * 3;
                o[0] = (uint8_t)(v >> 16);
                o[1] = (uint8_t)(v >> 8);
                o[2] = (uint8_t)v;
            }
        if (st == YOLOC_OK) st = image_save(path, &out, 92);
        image_free(&out);
    }
    plot_canvas_free(&cv);
    return st;
}
