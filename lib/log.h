/* log.h — stage-named log lines on stderr: "<stage>: <severity>: <message>[: strerror]".
 * s6-log stamps and rotates them; we never write to syslog or files ourselves. */
#ifndef VIGIL_LOG_H
#define VIGIL_LOG_H

#include <stdint.h>

enum log_sev { LOG_SEV_DEBUG, LOG_SEV_INFO, LOG_SEV_WARN, LOG_SEV_ERROR };

/* A token bucket: at most `burst` lines, refilled at `per_sec` lines a second. */
struct log_rl {
	unsigned per_sec, burst;
	double tokens;
	uint64_t last_ns;
	uint64_t suppressed;
};
#define LOG_RL_INIT(per_sec, burst) { (per_sec), (burst), (burst), 0, 0 }

void log_init(const char *stage);
void log_set_debug(int on);
void log_msg(enum log_sev sev, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like log_msg, but drops the line (and counts it) when rl is exhausted. */
void log_rl(struct log_rl *rl, enum log_sev sev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Exit with code (100 permanent, 111 temporary) after logging. */
_Noreturn void log_fatal(int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A broken invariant: log and abort. */
_Noreturn void log_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_debug(...) log_msg(LOG_SEV_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_msg(LOG_SEV_INFO, 0, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_SEV_WARN, 0, __VA_ARGS__)
#define log_error(...) log_msg(LOG_SEV_ERROR, 0, __VA_ARGS__)

/* Exit codes shared by every stage (s6 finish scripts read them). */
#define EXIT_OK 0
#define EXIT_PERM 100
#define EXIT_TEMP 111

uint64_t mono_ns(void);

#endif
