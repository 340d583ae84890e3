/* bench.h - helpers shared by the parts of the `make bench` program. */
#ifndef PED_BENCH_H
#define PED_BENCH_H

/* CLOCK_MONOTONIC in seconds. */
double bench_now(void);
/* Sorts v (n values) and returns its median. */
double bench_median(double *v, int n);
/* Prints "bench: <what> failed: <PED_E name>" and exits 1. */
void bench_die(const char *what, int r);

/* bench_session.c: the session over loopback TCP (handshake, ping). */
void bench_session(void);

#endif
