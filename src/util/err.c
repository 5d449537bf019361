/* err.c -- names for TN_E* codes. */
#include "util/err.h"

const char *tn_strerror(int err)
{
    switch (err) {
    case TN_OK: return "ok";
    case TN_EINVAL: return "invalid input";
    case TN_ENOTFOUND: return "not found";
    case TN_EEXIST: return "already exists";
    case TN_EIO: return "i/o error";
    case TN_ELIMIT: return "limit reached";
    case TN_ETLS: return "tls error";
    case TN_EJID: return "malformed jid";
    case TN_EAUTH: return "authentication failed";
    case TN_ECLOSED: return "closed";
    case TN_ETIMEDOUT: return "timed out";
    }
    return "unknown error";
}
