/* evaluator.h — pieces of the evaluator stage shared between its files. */
#ifndef VIGIL_EVALUATOR_H
#define VIGIL_EVALUATOR_H

#include "stage.h"

/* GetUrl: start the worker, queue one GET (never blocks; full queue = counted drop), stop. */
void eval_url_init(struct stage *st);
void eval_url_get(const char *url);
void eval_url_stop(void);

#endif
