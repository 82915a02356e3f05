/* gss_stub.c — link-time stand-ins for the MIT GSSAPI symbols that Debian's static
 * libzmq.a refers to (its GSSAPI security mechanism), because Debian ships no static
 * libgssapi_krb5. vigil never enables ZMQ_GSSAPI_*, so none of these is ever called;
 * if one were, it reports failure (GSS_S_FAILURE). Only for the static enforcer in
 * the qemu initramfs (mk/enforcer.mk). */
#include <stddef.h>

#define GSS_STUB(name) \
	unsigned int name(void); \
	unsigned int name(void) { return 0xd0000u; }

GSS_STUB(gss_release_name)
GSS_STUB(gss_release_buffer)
GSS_STUB(gss_delete_sec_context)
GSS_STUB(gss_release_cred)
GSS_STUB(gss_import_name)
GSS_STUB(gss_wrap)
GSS_STUB(gss_unwrap)
GSS_STUB(gss_init_sec_context)
GSS_STUB(gss_display_name)
GSS_STUB(gss_acquire_cred)
GSS_STUB(gss_accept_sec_context)

void *GSS_C_NT_USER_NAME = NULL;
void *GSS_C_NT_HOSTBASED_SERVICE = NULL;
