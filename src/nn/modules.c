/* The module registry: the descriptor of every kind in NN_MODULES
 * (nn/spec.h), each defined in its module's file (nn/module.h). */
#include "nn/module.h"

#define NN_MOD_EXTERN(e) extern const nn_module_desc NN_MOD_##e;
NN_MODULES(NN_MOD_EXTERN)
#undef NN_MOD_EXTERN

static const nn_module_desc *const MODULES[MOD_COUNT] = {
#define NN_MOD_PTR(e) [MOD_##e] = &NN_MOD_##e,
    NN_MODULES(NN_MOD_PTR)
#undef NN_MOD_PTR
};

const nn_module_desc *nn_module(mod_kind k) { return (k >= 0 && k < MOD_COUNT) ? MODULES[k] : NULL; }

size_t nn_cells(int imgsz, int stride) { return (size_t)(imgsz / (stride > 0 ? stride : 1)); }

int nn_input_stride(const model_spec *s, const layer_spec *l, int k) {
    return l->nfrom > k && l->from[k] >= 0 ? s->layers[l->from[k]].stride : 1;
}
