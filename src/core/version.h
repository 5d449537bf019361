/* version.h -- the release of tern. */
#ifndef TN_CORE_VERSION_H
#define TN_CORE_VERSION_H

#define TN_VERSION "0.1.0"

#endif
