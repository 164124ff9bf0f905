/*
 * secret.c — reading secrets from files or stdin into guarded, wiped
 * memory.  Nothing here logs or prints the bytes it reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "util/secmem.h"
#include "util/secret.h"

enum ov_rc
secret_new(size_t len, struct secret **out)
{
	struct secret *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	if ((s->buf = secmem_alloc(len + 1)) == NULL) {
		free(s);
		return ov_seterr(OV_ENOMEM, "out of secure memory");
	}
	s->len = len;
	*out = s;
	return OV_OK;
}

enum ov_rc
secret_from(const void *p, size_t len, struct secret **out)
{
	enum ov_rc rc;

	if ((rc = secret_new(len, out)) == OV_OK)
		memcpy((*out)->buf, p, len);
	return rc;
}

void
secret_free(struct secret *s)
{
	if (s == NULL)
		return;
	secmem_free(s->buf);	/* wipes */
	free(s);
}

enum ov_rc
secret_read(const char *path, size_t max, const char *what,
    struct secret **out)
{
	unsigned char *buf;
	size_t len = 0, cap = max + 3;	/* room for CRLF and one over */
	ssize_t n;
	int fd, rc = OV_OK;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return ov_seterr(errno == ENOENT ? OV_ENOTFOUND : OV_EIO,
		    "cannot open %s file %s: %s", what, path, strerror(errno));
	if ((buf = secmem_alloc(cap)) == NULL) {
		rc = ov_seterr(OV_ENOMEM, "out of secure memory");
		goto out_close;
	}
	while (len < cap) {
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = ov_seterr(OV_EIO, "cannot read %s from %s: %s",
			    what, path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len > max) {
		rc = ov_seterr(OV_ELIMIT, "%s in %s is longer than %zu bytes",
		    what, path, max);
		goto out;
	}
	if (len == 0) {
		rc = ov_seterr(OV_EINVAL, "%s in %s is empty", what, path);
		goto out;
	}
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0' || buf[i] == '\n' || buf[i] == '\r') {
			rc = ov_seterr(OV_EINVAL, "%s in %s must be one line "
			    "without NUL bytes", what, path);
			goto out;
		}
	rc = secret_from(buf, len, out);
out:
	secmem_free(buf);
out_close:
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

/* jansson frees parsed strings (request bodies hold secrets) unwiped. */
void
secret_json_wipe_on_free(void)
{
	json_set_alloc_funcs(malloc, secmem_wipe_free);
}
