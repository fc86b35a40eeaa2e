/* TensorBoard event files: `events.out.tfevents.<seconds>.<host>.<pid>.0`
 * in a run directory, which `tensorboard --logdir runs` shows.
 *
 * The file is a sequence of TFRecords, each one serialised Event
 * (proto/tfevents.proto: the fields of TensorBoard's event.proto and
 * summary.proto that yoloc writes):
 *   uint64 length (little endian)
 *   uint32 masked CRC-32C of those 8 bytes
 *   length bytes of data
 *   uint32 masked CRC-32C of the data
 * where masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2^32). The
 * first record is the file version "brain.Event:2"; then one Event per
 * scalar (Summary.Value simple_value) or image (Summary.Value image: a PNG
 * with its height, width and channels), each with its wall time and step.
 * Records are appended and flushed by tfe_flush (the trainer: after each
 * epoch), so a TensorBoard watching the folder sees the run as it goes. */
#ifndef YOLOC_IO_TFEVENTS_H
#define YOLOC_IO_TFEVENTS_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tfevents tfevents;

/* Creates the event file in dir (which must exist) and writes the version
 * record. `path` (may be NULL) gets the file's path. */
status tfe_open(tfevents **out, const char *dir, char *path, size_t cap);
status tfe_scalar(tfevents *w, const char *tag, long step, double value);
/* A PNG image (its bytes as they are in a .png file); height, width and
 * channels are read from its header. YOLOC_ERR_INVALID for other data. */
status tfe_image_png(tfevents *w, const char *tag, long step, const void *png, size_t n);
/* The same from a .png file. */
status tfe_image_file(tfevents *w, const char *tag, long step, const char *path);
status tfe_flush(tfevents *w);
/* Flushes and closes; NULL is fine. */
void tfe_close(tfevents *w);

/* CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), and the masked
 * form of the record framing. */
uint32_t tfe_crc32c(const void *data, size_t n);
uint32_t tfe_masked_crc(const void *data, size_t n);

#endif
