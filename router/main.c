/* SPDX-License-Identifier: MIT */
/*
 * main.c - the `spur` command: argument dispatch, `serve` (with its signal
 * loop), `check` and `plugins`. Client commands live in cli.c.
 *
 * `serve` blocks SIGTERM, SIGINT and SIGHUP before any thread starts and
 * takes them with sigwait() on the main thread: no work in signal
 * handlers, and no thread is ever interrupted by them.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "top.h"
#include "version.h"

static void usage(FILE *out)
{
	fputs("usage: spur COMMAND [options]\n"
	      "\n"
	      "  serve   -c FILE        run the router in the foreground\n"
	      "  check   -c FILE        validate the config and INIT every handler once\n"
	      "  invoke  [-e URL] FN[:QUAL] [--payload JSON|@FILE] [--async] [--log]\n"
	      "  publish [-e URL] FN [--description TEXT]  a new version of FN's $LATEST\n"
	      "  alias   [-e URL] set FN ALIAS VERSION [--weight VERSION=W] | ls FN | rm FN ALIAS\n"
	      "  versions [-e URL] FN   FN's versions and the aliases pointing to them\n"
	      "  queue   [-e URL] ls | peek NAME [-n N] | replay NAME [--to FN[:QUAL]] | purge NAME\n"
	      "  event   [-e URL] EVENT-ID  status and record of one async event\n"
	      "  top     [-e URL] [--interval S] [--once]  live per-function rates from /metrics\n"
	      "  plugins [-c FILE]      list loaded plugins and their options\n"
	      "  --version | --help | COMMAND --help\n"
	      "\n"
	      "Exit codes: 0 success, 1 usage or config error, 2 the server answered\n"
	      "with an error, 3 cannot connect.\n", out);
}

static const char *config_arg(int argc, char **argv, const char *cmd, bool required)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *file = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			file = optarg;
			break;
		case 'h':
			printf("usage: spur %s -c FILE\n", cmd);
			exit(0);
		default:
			fprintf(stderr, "usage: spur %s -c FILE\n", cmd);
			exit(SPUR_EXIT_USAGE);
		}
	}
	if ((required && !file) || optind != argc) {
		fprintf(stderr, "usage: spur %s -c FILE\n", cmd);
		exit(SPUR_EXIT_USAGE);
	}
	return file;
}

static struct spur_host *load(const char *file)
{
	struct spur_config *cfg = spur_config_load(file, stderr);
	if (!cfg)
		return NULL;
	return spur_host_new(cfg, stderr);
}

/* Enough descriptors for the connection limit. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int cmd_serve(int argc, char **argv)
{
	const char *file = config_arg(argc, argv, "serve", true);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	struct spur_host *h = load(file);
	if (!h)
		return SPUR_EXIT_USAGE;
	const struct spur_log *log = spur_host_log(h);
	if (spur_host_start(h) < 0) {
		spur_host_free(h);
		return SPUR_EXIT_USAGE;
	}
	spur_log_write(log, SPUR_LOG_INFO, NULL, "spur %s serving %s", SPUR_VERSION, file);
	for (;;) {
		int sig;
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			char why[4096];
			spur_host_reload(h, why, sizeof(why));	/* logs what happened */
			continue;
		}
		spur_log_write(log, SPUR_LOG_INFO, NULL, "%s: draining (no new requests; running invocations finish)",
			       sig == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	}
	struct spur_log last = *log;	/* the host's goes with it; "stopped" in the log's format */
	spur_host_stop(h);
	spur_host_free(h);	/* waits for running invocations */
	spur_log_write(&last, SPUR_LOG_INFO, NULL, "spur: stopped");
	return SPUR_EXIT_OK;
}

static int cmd_check(int argc, char **argv)
{
	const char *file = config_arg(argc, argv, "check", true);
	struct spur_host *h = load(file);
	if (!h)
		return SPUR_EXIT_USAGE;
	int failures = spur_host_check(h, stderr);
	if (failures == 0) {
		const struct spur_config *cfg = spur_host_config(h);
		printf("%s: ok (%zu functions, %zu routes)\n", file, cfg->n_functions, cfg->n_routes);
	}
	spur_host_free(h);
	return failures ? SPUR_EXIT_USAGE : SPUR_EXIT_OK;
}

static int cmd_plugins(int argc, char **argv)
{
	const char *file = config_arg(argc, argv, "plugins", false);
	struct spur_config *cfg;
	if (file) {
		cfg = spur_config_load(file, stderr);
	} else {
		/* No config: an empty one, so every plugin shows its defaults. */
		char path[] = "/tmp/spur-plugins-XXXXXX";
		int fd = mkstemp(path);
		if (fd < 0)
			return SPUR_EXIT_USAGE;
		FILE *f = fdopen(fd, "w");
		fputs("state_dir: /tmp/spur-plugins-state\n", f);
		fclose(f);
		cfg = spur_config_load(path, stderr);
		remove(path);
	}
	if (!cfg)
		return SPUR_EXIT_USAGE;
	struct spur_host *h = spur_host_new(cfg, stderr);
	if (!h)
		return SPUR_EXIT_USAGE;
	spur_host_list_plugins(h, stdout);
	spur_host_free(h);
	return SPUR_EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return SPUR_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("spur %s (plugin ABI %d.%d)\n", SPUR_VERSION, SPUR_ABI_MAJOR, SPUR_ABI_MINOR);
		return SPUR_EXIT_OK;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return SPUR_EXIT_OK;
	}
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "invoke") == 0)
		return spur_cli_invoke(argc - 1, argv + 1);
	if (strcmp(cmd, "publish") == 0)
		return spur_cli_publish(argc - 1, argv + 1);
	if (strcmp(cmd, "alias") == 0)
		return spur_cli_alias(argc - 1, argv + 1);
	if (strcmp(cmd, "versions") == 0)
		return spur_cli_versions(argc - 1, argv + 1);
	if (strcmp(cmd, "queue") == 0)
		return spur_cli_queue(argc - 1, argv + 1);
	if (strcmp(cmd, "event") == 0)
		return spur_cli_event(argc - 1, argv + 1);
	if (strcmp(cmd, "top") == 0)
		return spur_cli_top(argc - 1, argv + 1);
	if (strcmp(cmd, "plugins") == 0)
		return cmd_plugins(argc - 1, argv + 1);
	fprintf(stderr, "spur: unknown command '%s'\n\n", cmd);
	usage(stderr);
	return SPUR_EXIT_USAGE;
}
