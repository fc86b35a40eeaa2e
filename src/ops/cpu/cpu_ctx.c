/* The oneDNN context shared by all fast-path plans (see dnnl_util.h). */
#include "ops/cpu/dnnl_util.h"

#include <oneapi/dnnl/dnnl_debug.h>
#include <stdlib.h>
#include <string.h>

status dnnl_check(dnnl_status_t s, const char *what) {
    if (s == dnnl_success) return YOLOC_OK;
    return err_set(YOLOC_ERR_BACKEND, "oneDNN %s: %s", what, dnnl_status2str(s));
}

status cpu_ctx_create(cpu_ctx **out) {
    *out = NULL;
    cpu_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return err_set(YOLOC_ERR_NOMEM, "cannot allocate the oneDNN context");
    status st = dnnl_check(dnnl_engine_create(&ctx->engine, dnnl_cpu, 0), "engine_create");
    if (st == YOLOC_OK)
        st = dnnl_check(dnnl_stream_create(&ctx->stream, ctx->engine, dnnl_stream_default_flags),
                        "stream_create");
    if (st != YOLOC_OK) {
        cpu_ctx_free(ctx);
        return st;
    }
    *out = ctx;
    return YOLOC_OK;
}

void cpu_ctx_free(cpu_ctx *ctx) {
    if (!ctx) return;
    if (ctx->stream) dnnl_stream_destroy(ctx->stream);
    if (ctx->engine) dnnl_engine_destroy(ctx->engine);
    free(ctx->scratch);
    free(ctx);
}

status cpu_ctx_reserve_scratch(cpu_ctx *ctx, size_t bytes) {
    if (bytes <= ctx->scratch_size) return YOLOC_OK;
    size_t cap = (bytes + 4095) & ~(size_t)4095;
    void *p = NULL;
    if (posix_memalign(&p, 64, cap) != 0 || !p)
        return err_set(YOLOC_ERR_NOMEM, "cannot allocate %zu bytes of oneDNN scratch", cap);
    free(ctx->scratch);
    ctx->scratch = p;
    ctx->scratch_size = cap;
    return YOLOC_OK;
}

status dnnl_md_nhwc(dnnl_memory_desc_t *md, int n, int c, int h, int w) {
    dnnl_dims_t dims = {n, c, h, w};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, dnnl_nhwc), "memory_desc_init (nhwc)");
    return YOLOC_OK;
}

status dnnl_attr_user_scratchpad(dnnl_primitive_attr_t *attr) {
    DNNL_TRY(dnnl_primitive_attr_create(attr), "primitive_attr_create");
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (s != dnnl_success) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
        return dnnl_check(s, "set_scratchpad_mode");
    }
    return YOLOC_OK;
}

status dnnl_reserve_pd_scratch(cpu_ctx *ctx, const_dnnl_primitive_desc_t pd) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t bytes = md ? dnnl_memory_desc_get_size(md) : 0;
    return cpu_ctx_reserve_scratch(ctx, bytes);
}

status dnnl_mem_empty(dnnl_memory_t *mem, const dnnl_memory_desc_t *md, cpu_ctx *ctx) {
    DNNL_TRY(dnnl_memory_create(mem, md, ctx->engine, DNNL_MEMORY_NONE), "memory_create");
    return YOLOC_OK;
}

status dnnl_exec(cpu_ctx *ctx, dnnl_primitive_t prim, int nargs, dnnl_exec_arg_t *args) {
    /* Scratchpad: a memory object over the shared buffer, made per call
     * (cheap: no allocation of data). */
    enum { MAX_ARGS = 16 };
    dnnl_exec_arg_t all[MAX_ARGS + 1];
    YOLOC_ASSERT(nargs <= MAX_ARGS);
    memcpy(all, args, (size_t)nargs * sizeof *args);
    int n = nargs;
    const_dnnl_primitive_desc_t pd;
    DNNL_TRY(dnnl_primitive_get_primitive_desc(prim, &pd), "primitive_get_primitive_desc");
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    dnnl_memory_t smem = NULL;
    if (smd && dnnl_memory_desc_get_size(smd) > 0) {
        YOLOC_ASSERT(dnnl_memory_desc_get_size(smd) <= ctx->scratch_size);
        DNNL_TRY(dnnl_memory_create(&smem, smd, ctx->engine, ctx->scratch), "memory_create (scratch)");
        all[n].arg = DNNL_ARG_SCRATCHPAD;
        all[n].memory = smem;
        n++;
    }
    dnnl_status_t s = dnnl_primitive_execute(prim, ctx->stream, n, all);
    if (s == dnnl_success) s = dnnl_stream_wait(ctx->stream);
    if (smem) dnnl_memory_destroy(smem);
    return dnnl_check(s, "primitive_execute");
}

const char *ops_dnnl_isa(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "generic";
    }
}

ops_bf16_level ops_bf16_support(void) {
    /* The ISA values are bit sets: each level includes the ones below. */
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    const unsigned bf16 = (unsigned)dnnl_cpu_isa_avx512_core_bf16, core = (unsigned)dnnl_cpu_isa_avx512_core;
    if ((isa & bf16) == bf16) return OPS_BF16_NATIVE;
    if ((isa & core) == core) return OPS_BF16_EMULATED;
    return OPS_BF16_NONE;
}
