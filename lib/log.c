/* log.c — see log.h. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *log_stage = "vigil";
static int log_debug_on;
static const char *const sev_name[] = { "debug", "info", "warn", "error" };

/* Monotonic clock in nanoseconds. */
uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void log_init(const char *stage)
{
	log_stage = stage;
	setvbuf(stderr, NULL, _IOLBF, 0);
}

void log_set_debug(int on)
{
	log_debug_on = on;
}

/* Format one whole line into a buffer first so concurrent writers never interleave. */
static void log_vline(const char *sev, int errnum, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	n = snprintf(line, sizeof(line), "%s: %s: ", log_stage, sev);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (errnum && (size_t)n < sizeof(line) - 1)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror(errnum));
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, stderr);
}

void log_msg(enum log_sev sev, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (sev == LOG_SEV_DEBUG && !log_debug_on)
		return;
	va_start(ap, fmt);
	log_vline(sev_name[sev], errnum, fmt, ap);
	va_end(ap);
}

/* Refill the bucket; returns 1 when a line may be written. */
static int rl_take(struct log_rl *rl)
{
	uint64_t now = mono_ns();

	if (rl->last_ns)
		rl->tokens += (double)(now - rl->last_ns) / 1e9 * rl->per_sec;
	rl->last_ns = now;
	if (rl->tokens > rl->burst)
		rl->tokens = rl->burst;
	if (rl->tokens < 1.0) {
		rl->suppressed++;
		return 0;
	}
	rl->tokens -= 1.0;
	return 1;
}

void log_rl(struct log_rl *rl, enum log_sev sev, const char *fmt, ...)
{
	va_list ap;

	if (!rl_take(rl))
		return;
	if (rl->suppressed) {
		log_msg(LOG_SEV_WARN, 0, "%llu similar lines suppressed",
			(unsigned long long)rl->suppressed);
		rl->suppressed = 0;
	}
	va_start(ap, fmt);
	log_vline(sev_name[sev], 0, fmt, ap);
	va_end(ap);
}

_Noreturn void log_fatal(int code, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("fatal", errnum, fmt, ap);
	va_end(ap);
	exit(code);
}

_Noreturn void log_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("panic", 0, fmt, ap);
	va_end(ap);
	abort();
}
