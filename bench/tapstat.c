/* tapstat — the latency side of vigil's benchmark: subscribes to a stage's tap (by
 * default the exporter's, which publishes each event right after writing it to the
 * export file) and, for every event, takes CLOCK_REALTIME at receipt minus the event's
 * `time` (the kernel timestamp in wall-clock ns, docs/wire.md §4.4). Adds nothing to the
 * exporter but the tap it already has.
 *
 *   tapstat --endpoint ipc://RUNDIR/exporter.tap [--since NS] [--samples FILE]
 *
 * Runs until SIGINT/SIGTERM, then prints one JSON object: events seen per type, tap
 * sequence gaps (messages the tap dropped for us: those have no latency), and latency
 * percentiles in µs, overall and per type (by_type). --samples writes every latency (ns, one a line) for plotting.
 * Events whose `time` is before --since (wall-clock ns) are counted but not timed. */
#include <msgpack.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define NTYPES 16

static volatile sig_atomic_t stop;
static int64_t *lat;
static unsigned char *lat_type;	/* each sample's type index (count_type) */
static size_t nlat, caplat;
static char types[NTYPES][48];
static uint64_t type_n[NTYPES], other_n, bad, gaps, before;
static uint64_t last_seq;
static int have_seq;

static void on_sig(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The value of key in a msgpack map, or NULL. */
static const msgpack_object *get(const msgpack_object *map, const char *key)
{
	size_t i, kl = strlen(key);

	if (map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
		    !memcmp(k->via.str.ptr, key, kl))
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

/* Count an event under its type (first NTYPES distinct types, the rest as "other");
 * returns its index, NTYPES for "other". */
static int count_type(const msgpack_object *t)
{
	int i;

	if (!t || t->type != MSGPACK_OBJECT_STR) {
		other_n++;
		return NTYPES;
	}
	for (i = 0; i < NTYPES; i++) {
		if (!types[i][0]) {
			snprintf(types[i], sizeof(types[i]), "%.*s", (int)t->via.str.size,
				 t->via.str.ptr);
		}
		if (strlen(types[i]) == t->via.str.size &&
		    !memcmp(types[i], t->via.str.ptr, t->via.str.size)) {
			type_n[i]++;
			return i;
		}
	}
	other_n++;
	return NTYPES;
}

/* One tapped envelope: count it, check its sequence, time it. */
static void handle(const char *buf, size_t len, int64_t rx, int64_t since)
{
	msgpack_unpacked up;
	const msgpack_object *ev, *t, *seq;
	int ti = NTYPES;

	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, buf, len, NULL) != MSGPACK_UNPACK_SUCCESS) {
		bad++;
		goto out;
	}
	ti = count_type(get(&up.data, "type"));
	seq = get(&up.data, "seq");
	if (seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (have_seq && seq->via.u64 > last_seq + 1)
			gaps += seq->via.u64 - last_seq - 1;
		last_seq = seq->via.u64;
		have_seq = 1;
	}
	ev = get(&up.data, "ev");
	t = ev ? get(ev, "time") : NULL;
	if (!t || t->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		bad++;
		goto out;
	}
	if ((int64_t)t->via.u64 < since) {
		before++;
		goto out;
	}
	if (nlat == caplat) {
		caplat = caplat ? caplat * 2 : 1 << 16;
		lat = realloc(lat, caplat * sizeof(*lat));
		lat_type = realloc(lat_type, caplat);
		if (!lat || !lat_type) {
			perror("tapstat");
			exit(1);
		}
	}
	lat_type[nlat] = (unsigned char)ti;
	lat[nlat++] = rx - (int64_t)t->via.u64;
out:
	msgpack_unpacked_destroy(&up);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile of n sorted samples v, in µs. */
static double pct_of(const int64_t *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return -1;
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i] / 1e3;
}

static double pct(double q)
{
	return pct_of(lat, nlat, q);
}

/* ",\"by_type\":{TYPE:{n,p50,p99,max},...}" to f: where each type's latency lies (an
 * exec held for ordering, say, shows here and hides in the overall percentiles). Before
 * lat is sorted: it pairs with lat_type until then. */
static void print_by_type(FILE *f)
{
	int64_t *v = malloc((nlat ? nlat : 1) * sizeof(*v));
	int i, first = 1;

	if (!v)
		return;
	fprintf(f, ",\"by_type\":{");
	for (i = 0; i < NTYPES && types[i][0]; i++) {
		size_t n = 0;

		for (size_t j = 0; j < nlat; j++)
			if (lat_type[j] == i)
				v[n++] = lat[j];
		if (!n)
			continue;
		qsort(v, n, sizeof(*v), cmp64);
		fprintf(f, "%s\"%s\":{\"n\":%zu,\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f}",
			first ? "" : ",", types[i], n, pct_of(v, n, 0.5), pct_of(v, n, 0.99),
			pct_of(v, n, 1));
		first = 0;
	}
	fprintf(f, "}");
	free(v);
}

int main(int argc, char **argv)
{
	const char *ep = NULL, *samples = NULL;
	int64_t since = 0;
	int i, timeout = 100, hwm = 0;
	void *ctx, *sub;
	char *by_type = NULL;
	size_t by_type_len = 0;
	FILE *bt;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--endpoint"))
			ep = argv[i + 1];
		else if (!strcmp(argv[i], "--since"))
			since = strtoll(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--samples"))
			samples = argv[i + 1];
		else
			break;
	}
	if (!ep || i < argc) {
		fprintf(stderr, "usage: tapstat --endpoint EP [--since NS] [--samples FILE]\n");
		return 2;
	}
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	ctx = zmq_ctx_new();
	sub = zmq_socket(ctx, ZMQ_SUB);
	zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
	zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	if (zmq_connect(sub, ep) < 0) {
		fprintf(stderr, "tapstat: %s: %s\n", ep, zmq_strerror(zmq_errno()));
		return 1;
	}
	fprintf(stderr, "tapstat: subscribed to %s\n", ep);
	while (!stop) {
		zmq_msg_t m;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, sub, 0) >= 0)
			handle(zmq_msg_data(&m), zmq_msg_size(&m), now_real(), since);
		zmq_msg_close(&m);
	}
	if (samples) {
		FILE *f = fopen(samples, "w");

		for (size_t j = 0; f && j < nlat; j++)
			fprintf(f, "%lld\n", (long long)lat[j]);
		if (f)
			fclose(f);
	}
	bt = open_memstream(&by_type, &by_type_len);
	if (bt) {
		print_by_type(bt);
		fclose(bt);
	}
	qsort(lat, nlat, sizeof(*lat), cmp64);
	printf("{\"timed\":%zu,\"before_since\":%llu,\"undecodable\":%llu,\"tap_gaps\":%llu,"
	       "\"types\":{",
	       nlat, (unsigned long long)before, (unsigned long long)bad,
	       (unsigned long long)gaps);
	for (i = 0; i < NTYPES && types[i][0]; i++)
		printf("%s\"%s\":%llu", i ? "," : "", types[i], (unsigned long long)type_n[i]);
	printf("%s\"other\":%llu},", i ? "," : "", (unsigned long long)other_n);
	printf("\"lat_us\":{\"min\":%.1f,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,"
	       "\"max\":%.1f}",
	       pct(0), pct(0.5), pct(0.9), pct(0.99), pct(0.999), pct(1));
	fputs(by_type ? by_type : "", stdout);
	printf("}\n");
	free(by_type);
	zmq_close(sub);
	zmq_ctx_term(ctx);
	return 0;
}
