/* What the document pipeline uses of the batcher beyond the public API (doclayout.h). */
#ifndef DL_PIPELINE_BATCHER_H
#define DL_PIPELINE_BATCHER_H

#include "doclayout.h"

/* The detector the batcher runs (for its device name and model info, read-only), its model. */
const dl_detector *dl_batcher_detector(const dl_batcher *b);
const dl_model *dl_batcher_model(const dl_batcher *b);

/* Queue n pages [n,3,H,W] for their network outputs only: the batch thread writes page i's
 * logits [Q,L] to logits + i*Q*L and its boxes [Q,4] to boxes + i*Q*4 (no post-processing),
 * exactly what dl_detector_forward would write. Both buffers (and pixel_values, with
 * borrow_pixels) must stay valid until dl_batch_job_release returns; it waits for the job's
 * pages in a batch. The dl_batch_job_labels/scores/boxes of such a job are NULL. */
dl_status dl_batcher_submit_forward(dl_batcher *b, const float *pixel_values, int n, float *logits,
                                    float *boxes, dl_batch_job **out, dl_error *err);

#endif
