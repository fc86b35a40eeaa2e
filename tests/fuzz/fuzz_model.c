/* Fuzz target for the model-YAML parser (nn/spec.c and every module's
 * parse function through its descriptor): the YAML dict stored inside a
 * .pt checkpoint reaches it too, so it is untrusted input. Any bytes either
 * parse into a spec whose layers are consistent (channels, strides, inputs
 * before the layer, heads with their levels), whose planner arithmetic
 * (each module's conv_input) runs, or fail with a message naming the
 * document. Broken invariants abort, so the fuzzer reports them as crashes.
 * Nothing is built: a spec may describe a model too large to allocate. */
#include "nn/module.h"
#include "nn/spec.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    model_spec sp;
    if (model_spec_parse(&sp, (const char *)data, size, "fuzz.yaml", 0, 0) != YOLOC_OK) {
        YOLOC_ASSERT(strstr(yoloc_last_error(), "fuzz.yaml") != NULL);
        return 0;
    }
    YOLOC_ASSERT(sp.nlayers >= 1 && sp.nlayers <= SPEC_MAX_LAYERS && sp.nc >= 1);
    volatile size_t sink = 0;
    for (int i = 0; i < sp.nlayers; i++) {
        const layer_spec *l = &sp.layers[i];
        const nn_module_desc *d = nn_module(l->kind);
        YOLOC_ASSERT(d && d->vt && d->parse && l->index == i);
        YOLOC_ASSERT(l->nfrom >= 1 && l->nfrom <= SPEC_MAX_FROM && l->c1 >= 1 && l->c2 >= 1 && l->stride >= 1);
        YOLOC_ASSERT(l->repeats >= 1 && (d->repeats || l->repeats == 1));
        for (int k = 0; k < l->nfrom; k++) YOLOC_ASSERT(l->from[k] >= -1 && l->from[k] < i);
        if (mod_is_detect(l->kind)) YOLOC_ASSERT(l->nlevels == l->nfrom && l->nc >= 1);
        YOLOC_ASSERT(memchr(l->args, 0, sizeof l->args) != NULL);
        if (d->conv_input) sink += d->conv_input(&sp, l, 640);
        sink += strlen(mod_kind_name(l->kind));
    }
    (void)sink;
    model_spec_free(&sp);
    return 0;
}
