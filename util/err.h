/*
 * err.h — the one error enum of orgvault.
 *
 * Public functions return enum ov_rc.  The function that detects a problem
 * also sets a one-line, secret-free message with ov_seterr(); the caller at
 * the top (CLI, HTTP handler) shows ov_errmsg().  The message is per thread.
 */
#ifndef OV_ERR_H
#define OV_ERR_H

enum ov_rc {
	OV_OK = 0,
	OV_EUSAGE,	/* bad option or argument */
	OV_EINVAL,	/* input fails validation */
	OV_ENOTFOUND,	/* org, credential, vault, file not found */
	OV_ECONFLICT,	/* already exists, or in use */
	OV_EINTEGRITY,	/* tampered ciphertext, corrupt database, checksum */
	OV_ECRYPTO,	/* wrong key or passphrase */
	OV_EBUSY,	/* database locked past the busy timeout */
	OV_ELIMIT,	/* input over a documented limit */
	OV_ESCHEMA,	/* schema newer than the binary, or not migrated */
	OV_EIO,		/* file system or database I/O */
	OV_ENOMEM,
	OV_EINTERNAL,
	OV_ESECRET,	/* a change that needs the secrets given again */
	OV_RC_COUNT
};

const char	*ov_rc_str(enum ov_rc);
int		 ov_rc_exit(enum ov_rc);	/* process exit code */
enum ov_rc	 ov_seterr(enum ov_rc, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
const char	*ov_errmsg(void);		/* "" when none */
void		 ov_clearerr(void);

#endif
