/* ONNX export of a model's inference graph, laid out as Ultralytics'
 * exporter writes it, so post-processing written for Ultralytics' .onnx files
 * keeps working:
 *   input  `images`  [batch, 3, H, W] float32 (float16 with half), RGB in [0, 1];
 *   output `output0` [batch, 4 + nc, anchors]: rows 0-3 the box (cx, cy, w, h)
 *          in input pixels, then the class scores after sigmoid;
 *          YOLOv5 models (anchor-based Detect) as YOLOv5's exporter writes
 *          them: [batch, anchors, 5 + nc], each row the box (cx, cy, w, h)
 *          in input pixels, the objectness and the class probabilities
 *          (anchors: na per cell, level by level).
 * It equals `yoloc forward` in eval mode (transposed as that command writes
 * it; for YOLOv5, whose eval output holds objectness x probability, after
 * that product). Model metadata (metadata_props) holds what Ultralytics'
 * AutoBackend reads - description, author, stride, task, batch, imgsz,
 * names (Python literals, e.g. "{0: 'person'}"), args, channels - plus
 * yoloc_version. No date is written: the same model and options give the
 * same bytes.
 *
 * The graph: every Conv block as one Conv with its BatchNorm folded in
 * (w' = w g / sqrt(var + eps), b' = beta - mean g / sqrt(var + eps),
 * eps 1e-3) followed by SiLU as Sigmoid * Mul; C2f's chunk as Split; C3's
 * branches joined by Concat; Add; MaxPool; Upsample as Resize (nearest,
 * asymmetric, floor: PyTorch's export); Concat; and the Detect decode.
 * YOLOv8: DFL as Reshape -> Transpose -> Softmax -> 1x1 Conv with the
 * weights 0..reg_max-1, dist2bbox with the anchors and strides as constants
 * (dynamic: computed from the feature map sizes with Shape/Gather/Range),
 * Sigmoid for the classes. YOLOv5: Sigmoid, xy = (2 s - 0.5 + cell) x
 * stride, wh = (2 s)^2 x anchor, with the cell offsets and anchor sizes as
 * constants (dynamic: the cells computed the same way). Only operators
 * TensorRT's ONNX parser supports at opsets 13-17; the graph is the same at
 * every supported opset.
 *
 * Left out: GroupNorm models (norm=gn: there is no BatchNorm to fold),
 * modules other than Conv, C2f, C3, SPPF, Upsample, Concat and the two
 * Detect heads, NMS inside the graph, external-data files (> 2 GB). */
#ifndef YOLOC_IO_ONNX_EXPORT_H
#define YOLOC_IO_ONNX_EXPORT_H

#include "core/status.h"
#include "nn/model.h"

#include <stdint.h>

#define ONNX_OPSET_MIN 13
#define ONNX_OPSET_MAX 17
/* 13: the oldest opset TensorRT 7.2 - 8.4 read; the graph does not change
 * with the opset, so the default is the one most runtimes accept. */
#define ONNX_OPSET_DEFAULT 13

typedef struct {
    int imgsz_h, imgsz_w;     /* input size: multiples of the model's largest stride */
    int batch;                /* >= 1; with dynamic, only recorded in the metadata */
    int opset;                /* ONNX_OPSET_MIN .. ONNX_OPSET_MAX */
    int dynamic;              /* 1: batch, height and width symbolic */
    int half;                 /* 1: float16 weights, input and output */
    const char *const *names; /* class names (nnames of them); NULL: class0, class1, ... */
    int nnames;
} onnx_export_options;

/* Writes the model's inference graph to `path` atomically (PATH.tmp, then
 * rename): on any error no file is left behind and an existing PATH is
 * unchanged. The model is read through its public accessors and tensor names
 * (model_find / model_tensor_data), never changed. Errors:
 * YOLOC_ERR_INVALID (an option out of range, naming it),
 * YOLOC_ERR_UNSUPPORTED (a module or a GroupNorm model the exporter cannot
 * write, naming the layer), YOLOC_ERR_NOT_FOUND / YOLOC_ERR_SHAPE (a tensor
 * missing or of the wrong shape, naming it), YOLOC_ERR_IO, YOLOC_ERR_NOMEM. */
status onnx_export(model *m, const onnx_export_options *opt, const char *path);

/* IEEE 754 binary32 -> binary16, rounding to nearest even (overflow to
 * infinity, NaN kept NaN); the conversion float16 initializers use. */
uint16_t onnx_f32_to_f16(float f);

#endif
