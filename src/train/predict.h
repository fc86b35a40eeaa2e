/* Prediction on single images: letterbox to the model's input size, eval
 * forward, NMS, boxes back in the original image's pixels; and drawing the
 * result (boxes with class names and confidences, with cairo). */
#ifndef YOLOC_TRAIN_PREDICT_H
#define YOLOC_TRAIN_PREDICT_H

#include "core/status.h"
#include "eval/nms.h"
#include "io/image.h"
#include "nn/model.h"

typedef struct {
    void *ws;          /* NMS workspace, grown as needed */
    size_t ws_bytes;
    float *dets;       /* max_det rows of (x1, y1, x2, y2, conf, cls) in original pixels */
    size_t ndet;
    double ms;         /* letterbox + forward + NMS */
} predictor;

/* Runs one image (the model is re-planned as needed). */
status predict_image(predictor *p, model *m, const image *img, int imgsz, const nms_cfg *cfg);
void predictor_free(predictor *p);

/* How predict draws (Ultralytics' show_boxes, show_labels, show_conf,
 * line_width): line_width 0 = Ultralytics' default, max(round((h + w + 3)
 * / 2 x 0.003), 2); labels without boxes are not drawn. */
typedef struct {
    int boxes, labels, conf;
    int line_width;
} predict_style;
#define PREDICT_STYLE_DEFAULT ((predict_style){1, 1, 1, 0})

/* Writes img with the detections drawn (class name and confidence, as
 * style says) to path (.jpg/.jpeg or .png). */
status predict_draw(const char *path, const image *img, const float *dets, size_t ndet,
                    const char *const *names, int nc, const predict_style *style);

#endif
