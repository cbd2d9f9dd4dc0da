// SPDX-License-Identifier: GPL-2.0
/*
 * klpcheck lab workload: a user task that calls a patched kernel function in a loop.
 *
 *   klp_hammer FILE [PAUSE_US]
 *
 * Reads FILE (a /proc file whose read handler calls the function, e.g. /proc/klp_lab_f of
 * test_klp_lab_shadow_target) with pread() in a tight loop, optionally sleeping PAUSE_US
 * microseconds between reads. Each read enters the kernel and returns to user space, where
 * the task switches its patch state (klp_update_patch_state from exit_to_user_mode).
 * Runs until killed. Built static (-static) for the guest's busybox initramfs.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char buf[64];
	long pause_us = argc > 2 ? atol(argv[2]) : 0;
	int fd;

	if (argc < 2) {
		fprintf(stderr, "usage: klp_hammer FILE [PAUSE_US]\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	for (;;) {
		if (pread(fd, buf, sizeof(buf), 0) < 0) {
			perror("pread");
			return 1;
		}
		if (pause_us)
			usleep(pause_us);
	}
}
