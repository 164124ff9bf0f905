/* migrate.h — embedded migrations (generated table). Internal to vault/. */
#ifndef OV_MIGRATE_H
#define OV_MIGRATE_H

#include <stddef.h>

struct migration {
	int		 version;
	const char	*name;		/* "0001_init" */
	const char	*sql;
	size_t		 len;
};

/* SQLite's (migrations/) and PostgreSQL's (migrations/pg/): the same
 * versions and names, each in its engine's dialect. */
extern const struct migration	migrations[];
extern const size_t		migrations_count;
extern const struct migration	migrations_pg[];
extern const size_t		migrations_pg_count;

#endif
