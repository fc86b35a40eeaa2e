/* The OpenMPI communicator (see dist.h).
 *
 * Collectives are started non-blocking and waited for with a deadline (the
 * communicator's timeout): a rank that died or hangs turns into an error
 * naming the operation, and dist_close(d, 1) calls MPI_Abort so every
 * process of the job stops. MPI is initialised with MPI_THREAD_FUNNELED:
 * only the trainer's thread calls MPI (the loader's workers never do).
 * Errors are returned (MPI_ERRORS_RETURN), not fatal. A communicator is
 * MPI_COMM_WORLD or one split from it (dist_split); d->impl holds it. */
#include "dist/dist.h"

#include "core/log.h"
#include "core/timer.h"

#include <mpi.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(MPI_Request) <= sizeof(((dist_req *)0)->h), "dist_req too small for MPI_Request");

typedef struct {
    MPI_Comm comm;
    int owned; /* 1: split from another (freed by close); 0: MPI_COMM_WORLD */
} mpi_impl;

static mpi_impl WORLD;

static MPI_Comm comm_of(const dist *d) { return ((const mpi_impl *)d->impl)->comm; }

static status mpi_fail(dist *d, int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return err_set(YOLOC_ERR_BACKEND, "rank %d of %d: MPI %s failed: %s", d->rank, d->world, what, msg);
}

/* Waits for a request until the deadline; polls (spinning briefly, then
 * yielding) so that the process keeps making MPI progress. */
static status wait_request(dist *d, MPI_Request *req, const char *what) {
    double t0 = time_now();
    int flag = 0, spins = 0;
    for (;;) {
        int rc = MPI_Test(req, &flag, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(d, rc, what);
        if (flag) break;
        double el = time_now() - t0;
        if (el > d->timeout_s)
            return err_set(YOLOC_ERR_BACKEND,
                           "rank %d of %d: %s did not complete in %.0f s: another rank stopped or hangs "
                           "(dist_timeout=%.0f); stopping the job",
                           d->rank, d->world, what, el, d->timeout_s);
        if (++spins > 1000) usleep(spins > 100000 ? 1000 : 20);
        else sched_yield();
    }
    d->comm_s += time_now() - t0;
    return YOLOC_OK;
}

static status mpi_allreduce(dist *d, void *x, size_t n, MPI_Datatype t, size_t esize, const char *what) {
    if (n == 0 || d->world == 1) return YOLOC_OK;
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, x, (int)n, t, MPI_SUM, comm_of(d), &req);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, what);
    d->comm_bytes += n * esize;
    return wait_request(d, &req, what);
}

static status mpi_allreduce_f32(dist *d, float *x, size_t n) {
    /* large buffers in pieces of 2^30 elements (MPI counts are int) */
    for (size_t o = 0; o < n; o += (size_t)1 << 30) {
        size_t k = n - o < ((size_t)1 << 30) ? n - o : ((size_t)1 << 30);
        TRY(mpi_allreduce(d, x + o, k, MPI_FLOAT, sizeof(float), "allreduce (float)"));
    }
    return YOLOC_OK;
}

static status mpi_allreduce_f64(dist *d, double *x, size_t n) {
    return mpi_allreduce(d, x, n, MPI_DOUBLE, sizeof(double), "allreduce (double)");
}

static status mpi_broadcast(dist *d, void *buf, size_t bytes, int root) {
    if (d->world == 1) return YOLOC_OK;
    unsigned char *p = buf;
    for (size_t o = 0; o < bytes; o += (size_t)1 << 30) {
        size_t k = bytes - o < ((size_t)1 << 30) ? bytes - o : ((size_t)1 << 30);
        MPI_Request req;
        int rc = MPI_Ibcast(p + o, (int)k, MPI_BYTE, root, comm_of(d), &req);
        if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "broadcast");
        TRY(wait_request(d, &req, "broadcast"));
        d->comm_bytes += k;
    }
    return YOLOC_OK;
}

static status mpi_barrier(dist *d) {
    if (d->world == 1) return YOLOC_OK;
    MPI_Request req;
    int rc = MPI_Ibarrier(comm_of(d), &req);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "barrier");
    return wait_request(d, &req, "barrier");
}

static status mpi_iallreduce(dist *d, float *x, size_t n, dist_req *r) {
    r->active = 0;
    if (n == 0 || d->world == 1) return YOLOC_OK;
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, comm_of(d), &req);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "allreduce (gradient bucket)");
    memcpy(r->h, &req, sizeof req);
    r->active = 1;
    d->comm_bytes += n * sizeof(float);
    return YOLOC_OK;
}

static int mpi_test(dist *d, dist_req *r) {
    (void)d;
    if (!r->active) return 1;
    MPI_Request req;
    memcpy(&req, r->h, sizeof req);
    int flag = 0;
    MPI_Test(&req, &flag, MPI_STATUS_IGNORE);
    memcpy(r->h, &req, sizeof req);
    if (flag) r->active = 0;
    return flag;
}

static status mpi_wait(dist *d, dist_req *r) {
    if (!r->active) return YOLOC_OK;
    MPI_Request req;
    memcpy(&req, r->h, sizeof req);
    status st = wait_request(d, &req, "allreduce (gradient bucket)");
    r->active = 0;
    return st;
}

static status mpi_gather(dist *d, const void *buf, size_t n, int root, void **out, size_t *sizes) {
    *out = NULL;
    if (n > (size_t)1 << 30) return err_set(YOLOC_ERR_INVALID, "gather: %zu bytes is too large", n);
    int mine = (int)n, *counts = NULL, *displs = NULL;
    if (d->rank == root) {
        counts = malloc(sizeof(int) * (size_t)d->world);
        displs = malloc(sizeof(int) * (size_t)d->world);
        if (!counts || !displs) {
            free(counts), free(displs);
            return err_set(YOLOC_ERR_NOMEM, "out of memory");
        }
    }
    MPI_Request req;
    int rc = MPI_Igather(&mine, 1, MPI_INT, counts, 1, MPI_INT, root, comm_of(d), &req);
    status st = rc != MPI_SUCCESS ? mpi_fail(d, rc, "gather (sizes)") : wait_request(d, &req, "gather (sizes)");
    size_t total = 0;
    if (st == YOLOC_OK && d->rank == root) {
        for (int r = 0; r < d->world; r++) {
            displs[r] = (int)total;
            sizes[r] = (size_t)counts[r];
            total += (size_t)counts[r];
        }
        if (total > (size_t)1 << 31 || !(*out = malloc(total ? total : 1)))
            st = err_set(YOLOC_ERR_NOMEM, "gather: cannot hold %zu bytes", total);
    }
    if (st == YOLOC_OK) {
        rc = MPI_Igatherv(buf, mine, MPI_BYTE, *out, counts, displs, MPI_BYTE, root, comm_of(d), &req);
        st = rc != MPI_SUCCESS ? mpi_fail(d, rc, "gather") : wait_request(d, &req, "gather");
    }
    if (st < 0 && *out) {
        free(*out);
        *out = NULL;
    }
    free(counts);
    free(displs);
    return st;
}

static void mpi_close(dist *d, int failed) {
    if (failed) {
        log_error("rank %d of %d: stopping every process of the job", d->rank, d->world);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    mpi_impl *m = d->impl;
    if (m && m->owned) { /* a split communicator: the job goes on */
        MPI_Comm_free(&m->comm);
        free(m);
        d->impl = NULL;
        return;
    }
    MPI_Finalize();
}

static status mpi_split(dist *d, int color, int key, dist *out);

static const dist_vt MPI_VT = {mpi_allreduce_f32, mpi_allreduce_f64, mpi_broadcast, mpi_barrier, mpi_iallreduce,
                               mpi_test,          mpi_wait,          mpi_gather,    mpi_close,   mpi_split};

static status mpi_split(dist *d, int color, int key, dist *out) {
    mpi_impl *m = calloc(1, sizeof *m);
    if (!m) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    /* MPI_Comm_split is blocking: every rank of d calls it at the same
     * point of the program (no deadline; the ranks have just agreed) */
    int rc = MPI_Comm_split(comm_of(d), color, key, &m->comm);
    if (rc != MPI_SUCCESS) {
        free(m);
        return mpi_fail(d, rc, "split");
    }
    m->owned = 1;
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    memset(out, 0, sizeof *out);
    MPI_Comm_rank(m->comm, &out->rank);
    MPI_Comm_size(m->comm, &out->world);
    out->timeout_s = d->timeout_s;
    out->vt = &MPI_VT;
    out->impl = m;
    return YOLOC_OK;
}

status dist_open(dist *d, double timeout_s) {
    dist_single(d);
    d->timeout_s = timeout_s > 0 ? timeout_s : 600;
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_SIZE")) return YOLOC_OK;
    int provided = 0, rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return err_set(YOLOC_ERR_BACKEND, "MPI_Init_thread failed (%d)", rc);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->world);
    WORLD.comm = MPI_COMM_WORLD;
    WORLD.owned = 0;
    d->impl = &WORLD;
    d->vt = &MPI_VT;
    if (provided < MPI_THREAD_FUNNELED)
        log_warn("rank %d: the MPI library provides thread level %d < FUNNELED", d->rank, provided);
    return YOLOC_OK;
}
