/* Monotonic wall-clock timing. */
#ifndef YOLOC_CORE_TIMER_H
#define YOLOC_CORE_TIMER_H

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double time_now(void);

/* Median of n doubles (sorts a copy on the stack for n <= 1024). */
double time_median(const double *v, int n);

#endif
