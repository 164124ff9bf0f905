/* version.h — the one place the version of orgvault is set. */
#ifndef OV_VERSION_H
#define OV_VERSION_H

#ifndef ORGVAULT_VERSION
#define ORGVAULT_VERSION "0.2.0"
#endif

#endif
