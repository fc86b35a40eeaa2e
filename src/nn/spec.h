/* Model specs: a model YAML (Ultralytics format) parsed into plain structs,
 * scaled (depth/width/max_channels), with every layer's arguments resolved
 * and channels inferred, validated before anything is allocated.
 *
 * Parse -> spec -> validate -> build: every error names the YAML file and
 * line of the offending layer ("yolov8.yaml:14:5: layer 3: unknown module
 * 'Conf'"). Spatial sizes are not part of a spec: they depend on the input
 * and are computed when a model is planned. */
#ifndef YOLOC_NN_SPEC_H
#define YOLOC_NN_SPEC_H

#include "core/status.h"

#include <stddef.h>

/* The module registry: one line per kind, generating the enum and the
 * descriptor table (nn/module.h, nn/modules.c); each kind's descriptor
 * NN_MOD_<KIND> is defined in the module's file. A YAML name resolves to the
 * first kind with that name; YOLOv5's anchor-based head shares the name
 * "Detect" with YOLOv8's and is chosen by its arguments: `Detect, [nc]` is
 * the anchor-free head (YOLO11's after a C3k2, as in Ultralytics),
 * `Detect, [nc, anchors]` (a top-level `anchors:` list of pixel sizes per
 * level, or the list inline) the v5 head. */
#define NN_MODULES(X)                                                            \
    X(CONV)                                                                      \
    X(C2F)                                                                       \
    X(C3)                                                                        \
    X(C3K2)                                                                      \
    X(C2PSA)                                                                     \
    X(SPPF)                                                                      \
    X(UPSAMPLE)                                                                  \
    X(CONCAT)                                                                    \
    X(DETECT)                                                                    \
    X(DETECT_V5)

typedef enum {
#define NN_MOD_ENUM(e) MOD_##e,
    NN_MODULES(NN_MOD_ENUM)
#undef NN_MOD_ENUM
        MOD_COUNT
} mod_kind;

const char *mod_kind_name(mod_kind k);

#define SPEC_MAX_LAYERS 128
#define SPEC_MAX_FROM 8
#define SPEC_MAX_LEVELS 4
#define SPEC_MAX_ANCHORS 9 /* anchors per cell of an anchor-based head */

/* Either Detect head (v8 anchor-free or v5 anchor-based). */
static inline int mod_is_detect(mod_kind k) { return k == MOD_DETECT || k == MOD_DETECT_V5; }

typedef struct {
    int index;                /* position in the model (model.<index>.*) */
    int line, col;            /* where the layer is in the YAML */
    mod_kind kind;
    int nfrom;
    int from[SPEC_MAX_FROM];  /* absolute layer indices; -1 = the input image */
    int from_raw[SPEC_MAX_FROM]; /* as written in the YAML (may be relative) */
    int repeats;              /* after depth scaling (C2f: its n) */
    int c1;                   /* input channels (sum for Concat) */
    int c2;                   /* output channels */
    int stride;               /* output stride relative to the input image */
    int down, up;             /* the module's stride factors (Conv's s; Upsample's scale) */
    /* Conv */
    int k, s, p, g, d, act;
    /* C2f, C3, C3k2, C2PSA */
    int shortcut;
    float e; /* hidden ratio (0.5) */
    int c3k; /* C3k2: C3k inner blocks (set for the m, l and x scales, as Ultralytics) */
    /* Upsample */
    int scale;
    /* Detect (v8: reg_max 16, na 0; v5: reg_max 0, na anchors per cell) */
    int nc, reg_max, nlevels, na;
    int ch[SPEC_MAX_LEVELS];
    /* Detect: YOLO11's class branch (depthwise 3x3 + 1x1 Convs), chosen as
     * Ultralytics does: when a C3k2 comes before the head (its `legacy`
     * flag off) */
    int dw_cls;
    char args[96]; /* resolved arguments as printed by `yoloc info` */
} layer_spec;

typedef struct {
    char name[128];    /* YAML file name as given (for messages, metadata) */
    char scale;        /* 'n', 's', ... or 0 when the YAML has no scales */
    float depth, width;
    int max_channels;
    int nc;
    int in_ch;         /* input channels (3) */
    /* Anchor-based (v5) Detect: anchor sizes in input pixels per level as the
     * YAML gives them ([10, 13, 16, 30, 33, 23] -> (10, 13), (16, 30), ...),
     * after YOLOv5's check_anchor_order (levels reversed when the anchor
     * areas decrease while the strides increase). */
    int na;
    float anchors[SPEC_MAX_LEVELS][SPEC_MAX_ANCHORS][2];
    int nlayers;
    layer_spec layers[SPEC_MAX_LAYERS];
    char *yaml_text;   /* the YAML text (malloc'd), stored in weight files */
} model_spec;

/* Loads a model spec. `model` is a path to a YAML file or the name of a
 * built-in one, Ultralytics-style: "yolov8n.yaml" selects scale n of the
 * built-in yolov8.yaml (a file of that name, if it exists, wins).
 * nc > 0 overrides the YAML's nc. */
status model_spec_load(model_spec *spec, const char *model, int nc);
/* Same from YAML text; name is used in messages; scale 0 = the YAML's first. */
status model_spec_parse(model_spec *spec, const char *text, size_t len, const char *name,
                        char scale, int nc);
void model_spec_free(model_spec *spec);

/* make_divisible(x, 8) = ceil(x/8)*8, as Ultralytics scales channels. */
int spec_make_divisible(double x, int divisor);

#endif
