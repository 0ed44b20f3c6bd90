/* SPDX-License-Identifier: MIT */
/*
 * top.h - `spur top`: a live terminal view of a router's GET /metrics.
 */
#ifndef SPUR_TOP_H
#define SPUR_TOP_H

/* spur top [-e URL] [--interval S] [--once]; exit codes as in cli.h. */
int spur_cli_top(int argc, char **argv);

#endif
