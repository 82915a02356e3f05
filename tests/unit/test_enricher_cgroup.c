/* test_enricher_cgroup — the cgroup path parser on path strings of every runtime and
 * driver: container id (64 hex), pod uid (dashes), and paths that are not containers. */
#include <stdio.h>
#include <string.h>

#include "enricher_cgroup.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define UID "9f6a1c2e-1b7d-4a52-8c1e-5d2f3a4b5c6d"
#define UIDU "9f6a1c2e_1b7d_4a52_8c1e_5d2f3a4b5c6d"

static int fails;

/* Check one path: want_id "" = not a container. */
static void t(const char *path, const char *want_id, const char *want_uid)
{
	struct cg_info ci;
	int r = cgroup_parse_path(path, &ci);

	if (r != (want_id[0] != 0) || strcmp(ci.id, want_id) || strcmp(ci.pod_uid, want_uid)) {
		printf("FAIL %s: got r=%d id '%s' uid '%s'\n", path, r, ci.id, ci.pod_uid);
		fails++;
	}
}

int main(void)
{
	/* containerd, systemd driver, v2 and v1 */
	t("/sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDU
	  ".slice/cri-containerd-" ID ".scope", ID, UID);
	t("/sys/fs/cgroup/memory/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU
	  ".slice/cri-containerd-" ID ".scope", ID, UID);
	t("/kubepods.slice/kubepods-pod" UIDU ".slice/cri-containerd-" ID ".scope", ID, UID);
	/* containerd / cgroupfs driver (kubelet layout) */
	t("/sys/fs/cgroup/unified/kubepods/besteffort/pod" UID "/" ID, ID, UID);
	t("/kubepods/pod" UID "/" ID, ID, UID);
	t("0::/kubepods/burstable/pod" UID "/" ID, ID, UID);
	/* CRI-O; its conmon scope is not the container */
	t("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU ".slice/crio-" ID
	  ".scope", ID, UID);
	t("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU
	  ".slice/crio-conmon-" ID ".scope", "", UID);
	/* Docker: systemd and cgroupfs */
	t("/system.slice/docker-" ID ".scope", ID, "");
	t("/sys/fs/cgroup/cpu,cpuacct/docker/" ID, ID, "");
	t("/docker/" ID "/nested/child", ID, "");
	/* podman */
	t("/machine.slice/libpod-" ID ".scope", ID, "");
	t("/machine.slice/libpod-" ID ".scope/container", ID, "");
	t("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID ".scope", ID, "");
	/* not containers */
	t("/", "", "");
	t("", "", "");
	t("/system.slice/ssh.service", "", "");
	t("/user.slice/user-0.slice/session-3.scope", "", "");
	t("/docker/0123", "", "");
	t("/docker/" ID "0", "", "");
	t("/docker/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "", "");
	t("/kubepods/podnot-a-uid/" ID, ID, "");
	t("/kubepods/besteffort/pod" UID, "", UID);
	t("//kubepods///pod" UID "//" ID "/", ID, UID);
	if (fails)
		return 1;
	printf("ok\n");
	return 0;
}
