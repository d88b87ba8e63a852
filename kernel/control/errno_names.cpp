// SPDX-License-Identifier: MIT
// The errno name table: every code of abi/errno.h with its name and a short description.
#include "control/errno_names.hpp"
#include "abi/errno.h"

namespace {

struct ErrnoName {
    int code;
    const char *name;
    const char *description;
};

constexpr ErrnoName errno_table[] = {
    {BATON_EPERM, "EPERM", "not permitted"},      {BATON_ENOENT, "ENOENT", "no such object"},
    {BATON_EIO, "EIO", "input/output error"},     {BATON_E2BIG, "E2BIG", "too big"},
    {BATON_EAGAIN, "EAGAIN", "try again"},        {BATON_ENOMEM, "ENOMEM", "out of memory"},
    {BATON_EFAULT, "EFAULT", "bad address"},      {BATON_EBUSY, "EBUSY", "busy"},
    {BATON_EEXIST, "EEXIST", "already exists"},   {BATON_ENODEV, "ENODEV", "no such device"},
    {BATON_EINVAL, "EINVAL", "invalid argument"}, {BATON_ENOSPC, "ENOSPC", "no space left"},
    {BATON_ERANGE, "ERANGE", "out of range"},     {BATON_ENOSYS, "ENOSYS", "not supported"},
    {BATON_EBADMSG, "EBADMSG", "damaged data"},   {BATON_EOVERFLOW, "EOVERFLOW", "value too large"},
    {BATON_ETIMEDOUT, "ETIMEDOUT", "timed out"},
};

const ErrnoName *find(int error)
{
    for (const ErrnoName &entry : errno_table)
        if (entry.code == error || -entry.code == error)
            return &entry;
    return nullptr;
}

} // namespace

const char *errno_name(int error)
{
    const ErrnoName *entry = find(error);
    return entry != nullptr ? entry->name : "EUNKNOWN";
}

const char *errno_description(int error)
{
    const ErrnoName *entry = find(error);
    return entry != nullptr ? entry->description : "unknown error";
}
