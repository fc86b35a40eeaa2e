/* Fuzz target for PyTorch .pt files (io/zip, io/pickle, io/ptfile): any
 * bytes either open, give a state dict whose tensors are then all read, or
 * fail with a message naming the file and leave the handles empty. The
 * pickle machine is also run on the raw bytes (a pickle without its zip). */
#include "io/ptfile.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pk_doc d;
    if (pk_parse(&d, data, size, "fuzz.pkl") == YOLOC_OK) {
        YOLOC_ASSERT(d.root != NULL);
        pk_free(&d);
    } else {
        YOLOC_ASSERT(d.root == NULL && d.priv == NULL);
        YOLOC_ASSERT(strncmp(yoloc_last_error(), "fuzz.pkl", 8) == 0);
    }
    pt_file f;
    if (pt_open_memory(&f, data, size, "fuzz.pt") != YOLOC_OK) {
        YOLOC_ASSERT(f.file == NULL && f.doc.root == NULL && f.z.entries == NULL);
        YOLOC_ASSERT(strncmp(yoloc_last_error(), "fuzz.pt", 7) == 0);
        return 0;
    }
    safetensors s;
    if (pt_to_safetensors(&f, &s) == YOLOC_OK) {
        unsigned sum = 0;
        for (size_t i = 0; i < s.n; i++) {
            const st_entry *e = &s.entries[i];
            const unsigned char *p = st_data(&s, e);
            for (uint64_t k = 0; k < e->end - e->begin; k++) sum += p[k];
        }
        volatile unsigned sink = sum;
        (void)sink;
        st_close(&s);
    } else {
        YOLOC_ASSERT(s.priv == NULL && s.n == 0);
    }
    pt_close(&f);
    return 0;
}
