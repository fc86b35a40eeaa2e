/* The tiny YOLOv8 and YOLO11 used by the model tests (also in
 * tools/parity_torch.py). */
#ifndef YOLOC_TEST_TINY_MODEL_H
#define YOLOC_TEST_TINY_MODEL_H

/* yolov8 at width 1/16 (every channel count becomes 8..64): small enough to
 * check gradients of a whole model at 64x64. */
static const char *const TINY_YAML =
    "nc: 3\n"
    "scales:\n"
    "  t: [0.33, 0.0625, 1024]\n"
    "backbone:\n"
    "  - [-1, 1, Conv, [64, 3, 2]]\n"
    "  - [-1, 1, Conv, [128, 3, 2]]\n"
    "  - [-1, 3, C2f, [128, True]]\n"
    "  - [-1, 1, Conv, [256, 3, 2]]\n"
    "  - [-1, 6, C2f, [256, True]]\n"
    "  - [-1, 1, Conv, [512, 3, 2]]\n"
    "  - [-1, 6, C2f, [512, True]]\n"
    "  - [-1, 1, Conv, [1024, 3, 2]]\n"
    "  - [-1, 3, C2f, [1024, True]]\n"
    "  - [-1, 1, SPPF, [1024, 5]]\n"
    "head:\n"
    "  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]\n"
    "  - [[-1, 6], 1, Concat, [1]]\n"
    "  - [-1, 3, C2f, [512]]\n"
    "  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]\n"
    "  - [[-1, 4], 1, Concat, [1]]\n"
    "  - [-1, 3, C2f, [256]]\n"
    "  - [-1, 1, Conv, [256, 3, 2]]\n"
    "  - [[-1, 12], 1, Concat, [1]]\n"
    "  - [-1, 3, C2f, [512]]\n"
    "  - [-1, 1, Conv, [512, 3, 2]]\n"
    "  - [[-1, 9], 1, Concat, [1]]\n"
    "  - [-1, 3, C2f, [1024]]\n"
    "  - [[15, 18, 21], 1, Detect, [nc]]\n";

/* yolo11 at width 1/8: C2PSA keeps one attention head of 64 channels, C3k2
 * runs with C3k blocks (layers 6, 8, 22) and without; the head is YOLO11's
 * (also in tools/parity_torch.py). */
static const char *const TINY11_YAML =
    "nc: 3\n"
    "scales:\n"
    "  t: [0.50, 0.125, 1024]\n"
    "backbone:\n"
    "  - [-1, 1, Conv, [64, 3, 2]]\n"
    "  - [-1, 1, Conv, [128, 3, 2]]\n"
    "  - [-1, 2, C3k2, [256, False, 0.25]]\n"
    "  - [-1, 1, Conv, [256, 3, 2]]\n"
    "  - [-1, 2, C3k2, [512, False, 0.25]]\n"
    "  - [-1, 1, Conv, [512, 3, 2]]\n"
    "  - [-1, 2, C3k2, [512, True]]\n"
    "  - [-1, 1, Conv, [1024, 3, 2]]\n"
    "  - [-1, 2, C3k2, [1024, True]]\n"
    "  - [-1, 1, SPPF, [1024, 5]]\n"
    "  - [-1, 2, C2PSA, [1024]]\n"
    "head:\n"
    "  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]\n"
    "  - [[-1, 6], 1, Concat, [1]]\n"
    "  - [-1, 2, C3k2, [512, False]]\n"
    "  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]\n"
    "  - [[-1, 4], 1, Concat, [1]]\n"
    "  - [-1, 2, C3k2, [256, False]]\n"
    "  - [-1, 1, Conv, [256, 3, 2]]\n"
    "  - [[-1, 13], 1, Concat, [1]]\n"
    "  - [-1, 2, C3k2, [512, False]]\n"
    "  - [-1, 1, Conv, [512, 3, 2]]\n"
    "  - [[-1, 10], 1, Concat, [1]]\n"
    "  - [-1, 2, C3k2, [1024, True]]\n"
    "  - [[16, 19, 22], 1, Detect, [nc]]\n";

#endif
