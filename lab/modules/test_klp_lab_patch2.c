// SPDX-License-Identifier: GPL-2.0
/* klpcheck lab: the same livepatch as test_klp_lab_patch.c under a second module name. */
#include "test_klp_lab_patch.c"
