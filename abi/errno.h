// SPDX-License-Identifier: MIT
/* Error codes returned by hypercalls and kernel interfaces (negated). Shared with guests. */
#pragma once

enum baton_errno {
    BATON_OK = 0,
    BATON_EPERM = 1,
    BATON_ENOENT = 2,
    BATON_EIO = 5,
    BATON_E2BIG = 7,
    BATON_EAGAIN = 11, /* try again: a resource is briefly taken */
    BATON_ENOMEM = 12,
    BATON_EFAULT = 14,
    BATON_EBUSY = 16,
    BATON_EEXIST = 17,
    BATON_ENODEV = 19,
    BATON_EINVAL = 22,
    BATON_ENOSPC = 28,
    BATON_ERANGE = 34,
    BATON_ENOSYS = 38,
    BATON_EBADMSG = 74, /* a damaged image: its digest does not match what it loads */
    BATON_EOVERFLOW = 75,
    BATON_ETIMEDOUT = 110, /* another CPU did not answer in time */
};
