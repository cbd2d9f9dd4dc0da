// SPDX-License-Identifier: GPL-2.0
// Copyright (C) 2019 SUSE

/* The console loglevel fix is the same in the next cumulative patch. */
#include "test_klp_state2.c"
