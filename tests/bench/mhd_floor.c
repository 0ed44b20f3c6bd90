/* SPDX-License-Identifier: MIT */
/*
 * mhd_floor.c - the floor of spur's HTTP design for scripts/bench: bare
 * libmicrohttpd with one internal epoll thread (what `http.threads: 1`
 * uses), reading the request body and answering a fixed 44-byte JSON, with
 * no handler, no JSON, no logging. Whatever spur adds on top is its own
 * cost. Usage: mhd_floor PORT [POOL_BYTES] (runs until SIGTERM; POOL_BYTES
 * is MHD_OPTION_CONNECTION_MEMORY_LIMIT, default MHD's own).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <microhttpd.h>

static const char reply[] = "{\"device\":\"sensor-0042\",\"alert\":true,\"seen\":1}";

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	static int started;
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)cls, (void)url, (void)method, (void)version, (void)upload_data;
	if (!*con_cls) {		/* headers in */
		*con_cls = &started;
		return MHD_YES;
	}
	if (*upload_data_size) {	/* body bytes: taken, not kept */
		*upload_data_size = 0;
		return MHD_YES;
	}
	r = MHD_create_response_from_buffer(sizeof(reply) - 1, (void *)reply,
					    MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int main(int argc, char **argv)
{
	sigset_t set;
	int sig;
	struct MHD_Daemon *d;

	size_t pool = argc > 2 ? (size_t)atol(argv[2]) : 0;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: mhd_floor PORT [POOL_BYTES]\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC, (uint16_t)atoi(argv[1]),
			     NULL, NULL, on_request, NULL,
			     MHD_OPTION_CONNECTION_LIMIT, 4096u,
			     MHD_OPTION_CONNECTION_TIMEOUT, 30u,
			     pool ? MHD_OPTION_CONNECTION_MEMORY_LIMIT : MHD_OPTION_END, pool,
			     MHD_OPTION_END);
	if (!d) {
		perror("MHD_start_daemon");
		return 1;
	}
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
