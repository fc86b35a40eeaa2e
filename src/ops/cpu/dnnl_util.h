/* Internal helpers for the oneDNN fast path (only ops/cpu/ includes this).
 *
 * The cpu_ctx owns the engine, the stream and one scratch buffer shared by
 * every primitive created with attr_user_scratchpad(): plans run one at a
 * time, so they can share it; it grows at plan creation, never in a step. */
#ifndef YOLOC_OPS_CPU_DNNL_UTIL_H
#define YOLOC_OPS_CPU_DNNL_UTIL_H

#include "ops/ops.h"

#include <oneapi/dnnl/dnnl.h>

struct cpu_ctx {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    void *scratch;       /* 64-byte aligned */
    size_t scratch_size; /* bytes */
};

/* Turns a oneDNN status into YOLOC_ERR_BACKEND with "oneDNN <what>: <reason>". */
status dnnl_check(dnnl_status_t s, const char *what);
#define DNNL_TRY(call, what)                                                     \
    do {                                                                         \
        dnnl_status_t dnnl_s_ = (call);                                          \
        if (dnnl_s_ != dnnl_success) return dnnl_check(dnnl_s_, what);           \
    } while (0)

/* A 4-D f32 memory descriptor for an NHWC tensor (dims given as N, C, H, W
 * as oneDNN wants them). */
status dnnl_md_nhwc(dnnl_memory_desc_t *md, int n, int c, int h, int w);
/* A primitive attribute with a user-managed scratchpad (caller destroys). */
status dnnl_attr_user_scratchpad(dnnl_primitive_attr_t *attr);
/* Grows the context's scratch to what pd needs. */
status dnnl_reserve_pd_scratch(cpu_ctx *ctx, const_dnnl_primitive_desc_t pd);
/* A memory object for md without a buffer (set the handle per call). */
status dnnl_mem_empty(dnnl_memory_t *mem, const dnnl_memory_desc_t *md, cpu_ctx *ctx);
/* Executes prim with args (the scratchpad argument is added here) and waits. */
status dnnl_exec(cpu_ctx *ctx, dnnl_primitive_t prim, int nargs, dnnl_exec_arg_t *args);

#endif
