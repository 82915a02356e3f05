/* vigil getevents — a gRPC client of the exporter (like `tetra getevents`) on the
 * gRPC C core: one GetEvents stream, printed as Tetragon's JSON lines (-o json,
 * the same encoder as the JSON file) or one human line per event (-o compact).
 *
 * Responses are unpacked with protobuf-c and turned back into msgpack maps with
 * Tetragon's field names (Timestamps as ns since the epoch, wrappers as bare
 * scalars, enums as names), which is exactly what common/tetra_json encodes. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <msgpack.h>

#include "cli.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "strbuf.h"
#include "tetra_json.h"
#include "tetragon/events.pb-c.h"
#include "wire.h"

#define GE_TLS_DIR "/var/lib/vigil/tls/"
#define GE_MAX_DEPTH 32

static volatile sig_atomic_t ge_stop;

/* SIGINT/SIGTERM: end the stream cleanly. */
static void ge_on_sig(int sig)
{
	(void)sig;
	ge_stop = 1;
}

static void ge_usage(FILE *f)
{
	fprintf(f,
		"usage: vigil getevents [options]\n"
		"  --server-address ADDR  host:port or unix:PATH (default localhost:54321)\n"
		"  --tls-ca FILE          CA of the server certificate (default " GE_TLS_DIR "ca.crt)\n"
		"  --tls-cert FILE        client certificate for mutual TLS (default " GE_TLS_DIR
		"client.crt if it exists)\n"
		"  --tls-key FILE         its key (default " GE_TLS_DIR "client.key)\n"
		"  --tls-server-name NAME name to verify in the server certificate (default: the host)\n"
		"  --unix                 plaintext, only with a unix: address\n"
		"  -o, --output json|compact  (default json)\n"
		"  --binary REGEX         only processes whose binary matches (repeatable)\n"
		"  --event-types LIST     e.g. PROCESS_EXEC,PROCESS_EXIT\n"
		"  --pid PID              only this process (repeatable)\n"
		"  --namespace NS         only pods in NS (repeatable)\n"
		"  --count N              exit after N events\n"
		"  --timeout SECONDS      exit after this long (default: never)\n");
}

/* Append a growing list of strings. */
static void ge_push(char ***v, size_t *n, char *s)
{
	*v = realloc(*v, (*n + 1) * sizeof(**v));
	if (!*v)
		abort();
	(*v)[(*n)++] = s;
}

/* Read a whole file (for TLS PEM); NULL with errno. */
static char *ge_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	struct strbuf sb;
	char buf[4096];
	size_t n;

	if (!f)
		return NULL;
	strbuf_init(&sb);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && sb.len < (1u << 20))
		strbuf_append(&sb, buf, n);
	fclose(f);
	strbuf_putc(&sb, 0);
	return sb.buf;
}

static void ge_pack_msg(msgpack_packer *pk, const ProtobufCMessage *m, int depth);

/* Is the field at p in m set (proto3: non-default)? Returns the element count. */
static size_t ge_count(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
	const char *p = (const char *)m + f->offset;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)((const char *)m + f->quantifier_offset);
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id;
	switch (f->type) {
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *)p != NULL;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)p;
		return s && *s;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len > 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const uint64_t *)p != 0;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)p != 0;
	default:
		return *(const uint32_t *)p != 0;
	}
}

/* Pack one element of field f stored at p. */
static void ge_pack_elem(msgpack_packer *pk, const ProtobufCFieldDescriptor *f, const void *p,
			 int depth)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		msgpack_pack_int64(pk, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		msgpack_pack_uint64(pk, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		msgpack_pack_int64(pk, *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		msgpack_pack_uint64(pk, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		if (*(const protobuf_c_boolean *)p)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		msgpack_pack_double(pk, *(const float *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		msgpack_pack_double(pk, *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
		if (ev)
			msgpack_pack_str_with_body(pk, ev->name, strlen(ev->name));
		else
			msgpack_pack_int64(pk, *(const int *)p);
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)p;
		msgpack_pack_str_with_body(pk, s ? s : "", s ? strlen(s) : 0);
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		msgpack_pack_bin_with_body(pk, b->data, b->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
		const ProtobufCMessageDescriptor *d = f->descriptor;
		if (!m) {
			msgpack_pack_nil(pk);
		} else if (d == &google__protobuf__timestamp__descriptor) {
			const Google__Protobuf__Timestamp *ts = (const void *)m;
			msgpack_pack_int64(pk, ts->seconds * 1000000000 + ts->nanos);
		} else if (d->n_fields == 1 && strcmp(d->fields[0].name, "value") == 0 &&
			   strncmp(d->name, "google.protobuf.", 16) == 0) {
			ge_pack_elem(pk, &d->fields[0], (const char *)m + d->fields[0].offset, depth);
		} else {
			ge_pack_msg(pk, m, depth + 1);
		}
		break;
	}
	}
}

/* Pack a message as a map of its set fields (proto maps as msgpack maps). */
static void ge_pack_msg(msgpack_packer *pk, const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	unsigned n = 0;

	if (depth > GE_MAX_DEPTH) {
		msgpack_pack_nil(pk);
		return;
	}
	for (unsigned i = 0; i < d->n_fields; i++)
		n += ge_count(&d->fields[i], m) > 0;
	msgpack_pack_map(pk, n);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		size_t cnt = ge_count(f, m);
		if (!cnt)
			continue;
		msgpack_pack_str_with_body(pk, f->name, strlen(f->name));
		if (f->label != PROTOBUF_C_LABEL_REPEATED) {
			ge_pack_elem(pk, f, (const char *)m + f->offset, depth);
			continue;
		}
		const char *arr = *(const char *const *)((const char *)m + f->offset);
		const ProtobufCMessageDescriptor *md = f->descriptor;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && md->n_fields == 2 && strstr(md->name, "Entry")) {
			msgpack_pack_map(pk, cnt);
			for (size_t k = 0; k < cnt; k++) {
				const ProtobufCMessage *e = ((const ProtobufCMessage *const *)arr)[k];
				ge_pack_elem(pk, &md->fields[0], (const char *)e + md->fields[0].offset, depth);
				ge_pack_elem(pk, &md->fields[1], (const char *)e + md->fields[1].offset, depth);
			}
			continue;
		}
		size_t es;
		switch (f->type) {
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_SINT64:
		case PROTOBUF_C_TYPE_SFIXED64:
		case PROTOBUF_C_TYPE_UINT64:
		case PROTOBUF_C_TYPE_FIXED64:
		case PROTOBUF_C_TYPE_DOUBLE:
			es = 8;
			break;
		case PROTOBUF_C_TYPE_BOOL:
			es = sizeof(protobuf_c_boolean);
			break;
		case PROTOBUF_C_TYPE_ENUM:
			es = sizeof(int);
			break;
		case PROTOBUF_C_TYPE_STRING:
		case PROTOBUF_C_TYPE_MESSAGE:
			es = sizeof(void *);
			break;
		case PROTOBUF_C_TYPE_BYTES:
			es = sizeof(ProtobufCBinaryData);
			break;
		default:
			es = 4;
		}
		msgpack_pack_array(pk, cnt);
		for (size_t k = 0; k < cnt; k++)
			ge_pack_elem(pk, f, arr + k * es, depth);
	}
}

/* A response as (type, msgpack event with node_name and time inside), packed into
 * sb. Returns the type name, or NULL for a response with no event. */
static const char *ge_to_msgpack(const Tetragon__GetEventsResponse *r, msgpack_sbuffer *sb)
{
	const ProtobufCMessageDescriptor *d = &tetragon__get_events_response__descriptor;
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(d, (unsigned)r->event_case);
	msgpack_packer pk;
	const ProtobufCMessage *ev;
	unsigned extra = 0;

	if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return NULL;
	ev = *(const ProtobufCMessage *const *)((const char *)r + f->offset);
	if (!ev)
		return NULL;
	/* the event's own map, then node_name and time appended as two more keys */
	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	ge_pack_msg(&pk, ev, 0);
	extra = (r->node_name && *r->node_name) + (r->time != NULL);
	if (extra) {
		/* rewrite the map header: unpack, repack with the two keys (rare path cost is fine) */
		msgpack_unpacked up;
		size_t off = 0;
		msgpack_sbuffer tmp;
		msgpack_sbuffer_init(&tmp);
		msgpack_unpacked_init(&up);
		if (msgpack_unpack_next(&up, sb->data, sb->size, &off) == MSGPACK_UNPACK_SUCCESS) {
			msgpack_packer tp;
			msgpack_packer_init(&tp, &tmp, msgpack_sbuffer_write);
			msgpack_pack_map(&tp, up.data.via.map.size + extra);
			for (uint32_t i = 0; i < up.data.via.map.size; i++) {
				msgpack_pack_object(&tp, up.data.via.map.ptr[i].key);
				msgpack_pack_object(&tp, up.data.via.map.ptr[i].val);
			}
			if (r->node_name && *r->node_name) {
				msgpack_pack_str_with_body(&tp, "node_name", 9);
				msgpack_pack_str_with_body(&tp, r->node_name, strlen(r->node_name));
			}
			if (r->time) {
				msgpack_pack_str_with_body(&tp, "time", 4);
				msgpack_pack_int64(&tp, r->time->seconds * 1000000000 + r->time->nanos);
			}
			msgpack_sbuffer_clear(sb);
			msgpack_sbuffer_write(sb, tmp.data, tmp.size);
		}
		msgpack_unpacked_destroy(&up);
		msgpack_sbuffer_destroy(&tmp);
	}
	return f->name;
}

/* A string member or "". */
static const char *ge_str(const msgpack_object *m, const char *key, int *len)
{
	const char *p;
	size_t n;

	if (!m || wire_get_str(m, key, &p, &n) < 0) {
		*len = 0;
		return "";
	}
	*len = (int)n;
	return p;
}

/* One human line, in the spirit of tetra's compact output. */
static void ge_compact(const char *type, const msgpack_object *ev, struct strbuf *out)
{
	const msgpack_object *proc = wire_get(ev, "process"), *pod;
	const char *bin, *args, *ns, *pn, *node;
	int bl, al, nl, pl, ndl;
	uint64_t v;

	if (proc && proc->type != MSGPACK_OBJECT_MAP)
		proc = NULL;
	pod = proc ? wire_get(proc, "pod") : NULL;
	bin = ge_str(proc, "binary", &bl);
	args = ge_str(proc, "arguments", &al);
	ns = ge_str(pod, "namespace", &nl);
	pn = ge_str(pod, "name", &pl);
	node = ge_str(ev, "node_name", &ndl);
	if (strcmp(type, "process_exec") == 0)
		strbuf_append(out, "\xf0\x9f\x9a\x80 process ", 13);
	else if (strcmp(type, "process_exit") == 0)
		strbuf_append(out, "\xf0\x9f\x92\xa5 exit    ", 13);
	else
		strbuf_appendf(out, "\xe2\x9a\x99 %s ", type);
	if (pl)
		strbuf_appendf(out, "%.*s/%.*s ", nl, ns, pl, pn);
	else
		strbuf_appendf(out, "%.*s ", ndl, node);
	strbuf_appendf(out, "%.*s", bl, bin);
	if (al)
		strbuf_appendf(out, " %.*s", al, args);
	if (strcmp(type, "process_exit") == 0) {
		int sl;
		const char *sig = ge_str(ev, "signal", &sl);
		if (sl)
			strbuf_appendf(out, " %.*s", sl, sig);
		else
			strbuf_appendf(out, " %llu", wire_get_u64(ev, "status", &v) == 0 ?
				       (unsigned long long)v : 0ull);
	} else if (strcmp(type, "process_exec") != 0) {
		int l;
		const char *s = ge_str(ev, "policy_name", &l);
		if (l)
			strbuf_appendf(out, " policy=%.*s", l, s);
		s = ge_str(ev, "function_name", &l);
		if (l)
			strbuf_appendf(out, " %.*s", l, s);
	}
}

/* Print one response; returns 1 if it was an event. */
static int ge_print(const uint8_t *buf, size_t len, int compact, msgpack_sbuffer *sb,
		    struct strbuf *out)
{
	Tetragon__GetEventsResponse *r = tetragon__get_events_response__unpack(NULL, len, buf);
	const char *type;
	msgpack_unpacked up;
	size_t off = 0;
	int ok = 0;

	if (!r) {
		fprintf(stderr, "vigil: warn: undecodable GetEventsResponse (%zu bytes)\n", len);
		return 0;
	}
	if (r->event_case == TETRAGON__GET_EVENTS_RESPONSE__EVENT_RATE_LIMIT_INFO && !compact &&
	    r->rate_limit_info)
		fprintf(stderr, "vigil: warn: the server dropped %llu events for this client\n",
			(unsigned long long)r->rate_limit_info->number_of_dropped_process_events);
	type = ge_to_msgpack(r, sb);
	if (type) {
		msgpack_unpacked_init(&up);
		if (msgpack_unpack_next(&up, sb->data, sb->size, &off) == MSGPACK_UNPACK_SUCCESS) {
			strbuf_reset(out);
			if (compact)
				ge_compact(type, &up.data, out);
			else
				tj_event_line(type, &up.data, out);
			strbuf_putc(out, '\n');
			fwrite(out->buf, 1, out->len, stdout);
			fflush(stdout);
			ok = 1;
		}
		msgpack_unpacked_destroy(&up);
	}
	tetragon__get_events_response__free_unpacked(r, NULL);
	return ok;
}

/* EventType numbers from "PROCESS_EXEC,process_exit"; -1 on an unknown name. */
static int ge_types(const char *list, Tetragon__EventType **out, size_t *n)
{
	char *s = strdup(list), *save = NULL;

	for (char *t = strtok_r(s, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		char up[64];
		size_t i;
		for (i = 0; t[i] && i < sizeof(up) - 1; i++)
			up[i] = (char)(t[i] >= 'a' && t[i] <= 'z' ? t[i] - 32 : t[i]);
		up[i] = 0;
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value_by_name(&tetragon__event_type__descriptor, up);
		if (!ev || ev->value == 0) {
			fprintf(stderr, "vigil: error: unknown event type '%s'\n", t);
			free(s);
			return -1;
		}
		*out = realloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = (Tetragon__EventType)ev->value;
	}
	free(s);
	return 0;
}

/* The default client certificate, if mktls made one. */
static const char *ge_default(const char *path)
{
	return access(path, R_OK) == 0 ? path : NULL;
}

/* Channel credentials: TLS with the CA (and a client certificate if any). */
static grpc_channel_credentials *ge_creds(const char *ca, const char *cert, const char *key)
{
	char *pca = ge_slurp(ca), *pcert = NULL, *pkey = NULL;
	grpc_channel_credentials *c;

	if (!pca) {
		fprintf(stderr, "vigil: error: --tls-ca %s: %s\n", ca, strerror(errno));
		return NULL;
	}
	if (cert && key) {
		pcert = ge_slurp(cert);
		pkey = ge_slurp(key);
		if (!pcert || !pkey) {
			fprintf(stderr, "vigil: error: client certificate %s / %s: %s\n", cert, key,
				strerror(errno));
			free(pca);
			free(pcert);
			free(pkey);
			return NULL;
		}
	}
	grpc_ssl_pem_key_cert_pair pair = {.private_key = pkey, .cert_chain = pcert};
	c = grpc_ssl_credentials_create(pca, pcert ? &pair : NULL, NULL, NULL);
	free(pca);
	free(pcert);
	free(pkey);
	return c;
}

int cli_getevents(int argc, char **argv)
{
	static const struct option lo[] = {
		{"server-address", 1, 0, 'a'}, {"tls-ca", 1, 0, 'C'},	  {"tls-cert", 1, 0, 'c'},
		{"tls-key", 1, 0, 'k'},	       {"tls-server-name", 1, 0, 'N'}, {"unix", 0, 0, 'u'},
		{"output", 1, 0, 'o'},	       {"binary", 1, 0, 'b'},	  {"event-types", 1, 0, 'e'},
		{"pid", 1, 0, 'p'},	       {"namespace", 1, 0, 'n'},	  {"count", 1, 0, 'K'},
		{"timeout", 1, 0, 't'},	       {"help", 0, 0, 'h'},	  {0, 0, 0, 0},
	};
	const char *addr = "localhost:54321", *ca = GE_TLS_DIR "ca.crt", *cert = NULL, *key = NULL,
		   *sni = NULL, *out = "json";
	int plaintext = 0, opt, compact, rc = 0;
	long count = -1, seen = 0;
	double timeout = 0;
	Tetragon__Filter flt = TETRAGON__FILTER__INIT, *fp = &flt;
	Tetragon__GetEventsRequest req = TETRAGON__GET_EVENTS_REQUEST__INIT;
	size_t npid = 0;

	optind = 1;
	while ((opt = getopt_long(argc + 1, argv - 1, "o:h", lo, NULL)) != -1) {
		char *end;
		switch (opt) {
		case 'a': addr = optarg; break;
		case 'C': ca = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'N': sni = optarg; break;
		case 'u': plaintext = 1; break;
		case 'o': out = optarg; break;
		case 'b': ge_push(&flt.binary_regex, &flt.n_binary_regex, optarg); break;
		case 'n': ge_push(&flt.namespace_, &flt.n_namespace_, optarg); break;
		case 'e':
			if (ge_types(optarg, &flt.event_set, &flt.n_event_set) < 0)
				return 2;
			break;
		case 'p': {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || !*optarg || v > UINT32_MAX) {
				fprintf(stderr, "vigil: error: --pid %s: not a pid\n", optarg);
				return 2;
			}
			flt.pid = realloc(flt.pid, (npid + 1) * sizeof(uint32_t));
			flt.pid[npid++] = (uint32_t)v;
			flt.n_pid = npid;
			break;
		}
		case 'K': count = strtol(optarg, NULL, 10); break;
		case 't': timeout = strtod(optarg, NULL); break;
		case 'h': ge_usage(stdout); return 0;
		default: ge_usage(stderr); return 2;
		}
	}
	if (optind < argc + 1) {
		fprintf(stderr, "vigil: error: unexpected argument '%s'\n", argv[optind - 1]);
		return 2;
	}
	if (strcmp(out, "json") != 0 && strcmp(out, "compact") != 0) {
		fprintf(stderr, "vigil: error: -o %s: want json or compact\n", out);
		return 2;
	}
	compact = out[0] == 'c';
	int is_unix = strncmp(addr, "unix:", 5) == 0;
	if (plaintext && !is_unix) {
		fprintf(stderr, "vigil: error: --unix (plaintext) needs a unix:PATH --server-address\n");
		return 2;
	}
	if (!cert && !key) {
		cert = ge_default(GE_TLS_DIR "client.crt");
		key = cert ? ge_default(GE_TLS_DIR "client.key") : NULL;
		if (!key)
			cert = NULL;
	} else if (!cert || !key) {
		fprintf(stderr, "vigil: error: --tls-cert and --tls-key go together\n");
		return 2;
	}
	if (flt.n_binary_regex || flt.n_namespace_ || flt.n_event_set || flt.n_pid) {
		req.n_allow_list = 1;
		req.allow_list = &fp;
	}

	signal(SIGINT, ge_on_sig);
	signal(SIGTERM, ge_on_sig);
	grpc_init();
	grpc_channel_credentials *creds =
		plaintext ? grpc_insecure_credentials_create() : ge_creds(ca, cert, key);
	if (!creds) {
		grpc_shutdown();
		return 1;
	}
	grpc_arg a[1];
	grpc_channel_args args = {0, a};
	char host[256];
	if (!plaintext) {
		if (!sni) { /* verify the host part of the address, as a browser would */
			const char *c = strrchr(addr, ':');
			snprintf(host, sizeof(host), "%.*s", c ? (int)(c - addr) : (int)strlen(addr), addr);
			sni = host;
		}
		a[0].type = GRPC_ARG_STRING;
		a[0].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
		a[0].value.string = (char *)sni;
		args.num_args = 1;
	}
	grpc_channel *ch = grpc_channel_create(addr, creds, &args);
	grpc_channel_credentials_release(creds);
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_slice method = grpc_slice_from_static_string("/tetragon.FineGuidanceSensors/GetEvents");
	grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
						   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	size_t rlen = tetragon__get_events_request__get_packed_size(&req);
	uint8_t *rb = malloc(rlen ? rlen : 1);
	tetragon__get_events_request__pack(&req, rb);
	grpc_slice rs = grpc_slice_new(rb, rlen, free);
	grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&rs, 1), *recv = NULL;
	grpc_slice_unref(rs);
	grpc_metadata_array md_init, md_trail;
	grpc_status_code status = GRPC_STATUS_OK;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[4];
	int tag_start, tag_status, tag_recv;
	grpc_metadata_array_init(&md_init);
	grpc_metadata_array_init(&md_trail);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &md_init;
	grpc_call_start_batch(call, ops, 4, &tag_start, NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &md_trail;
	ops[0].data.recv_status_on_client.status = &status;
	ops[0].data.recv_status_on_client.status_details = &details;
	grpc_call_start_batch(call, ops, 1, &tag_status, NULL);
	grpc_completion_queue_pluck(cq, &tag_start, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	msgpack_sbuffer sb;
	struct strbuf line;
	msgpack_sbuffer_init(&sb);
	strbuf_init(&line);
	int cancelled = 0;
	for (;;) {
		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_MESSAGE;
		ops[0].data.recv_message.recv_message = &recv;
		grpc_call_start_batch(call, ops, 1, &tag_recv, NULL);
		grpc_event e;
		do { /* wake up every 100 ms to honour signals and --timeout */
			e = grpc_completion_queue_pluck(cq, &tag_recv,
							gpr_time_from_millis(100, GPR_TIMESPAN), NULL);
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			double el = (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9;
			if (e.type == GRPC_QUEUE_TIMEOUT && !cancelled &&
			    (ge_stop || (timeout > 0 && el >= timeout))) {
				grpc_call_cancel(call, NULL);
				cancelled = 1;
			}
		} while (e.type == GRPC_QUEUE_TIMEOUT);
		if (!e.success || !recv)
			break;
		grpc_byte_buffer_reader rd;
		grpc_byte_buffer_reader_init(&rd, recv);
		grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
		grpc_byte_buffer_reader_destroy(&rd);
		grpc_byte_buffer_destroy(recv);
		recv = NULL;
		seen += ge_print(GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s), compact, &sb, &line);
		grpc_slice_unref(s);
		if (count >= 0 && seen >= count && !cancelled) {
			grpc_call_cancel(call, NULL);
			cancelled = 1;
		}
	}
	grpc_completion_queue_pluck(cq, &tag_status, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (!cancelled && status != GRPC_STATUS_OK) {
		char *d = grpc_slice_to_c_string(details);
		fprintf(stderr, "vigil: error: GetEvents from %s: %s (status %d)\n", addr,
			*d ? d : "failed", (int)status);
		gpr_free(d);
		rc = 1;
	}
	strbuf_free(&line);
	msgpack_sbuffer_destroy(&sb);
	grpc_byte_buffer_destroy(send);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&md_init);
	grpc_metadata_array_destroy(&md_trail);
	grpc_call_unref(call);
	grpc_channel_destroy(ch);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_destroy(cq);
	grpc_shutdown();
	free(flt.binary_regex);
	free(flt.namespace_);
	free(flt.event_set);
	free(flt.pid);
	return rc;
}
