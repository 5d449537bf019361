/* err.h -- tern's error codes: functions return 0 or a negative TN_E* code.
 * tn_strerror() names each one for logs. */
#ifndef TN_UTIL_ERR_H
#define TN_UTIL_ERR_H

enum {
    TN_OK = 0,
    TN_EINVAL = -1,    /* bad argument or malformed input */
    TN_ENOTFOUND = -2, /* no such record */
    TN_EEXIST = -3,    /* record already exists */
    TN_EIO = -4,       /* storage, socket or system failure */
    TN_ELIMIT = -5,    /* a configured bound was hit */
    TN_ETLS = -6,      /* TLS failure */
    TN_EJID = -7,      /* not a valid JID */
    TN_EAUTH = -8,     /* authentication failed */
    TN_ECLOSED = -9,   /* object is closing or closed */
    TN_ETIMEDOUT = -10, /* no answer in time */
};

/* Returns a static, human-readable name for a TN_E* code. */
const char *tn_strerror(int err);

#endif
