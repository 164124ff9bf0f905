/*
 * db_driver.h — what an engine of the storage seam provides (db.h is
 * what vault/ sees).  Each driver's connection and statement structs
 * begin with the struct db / struct db_stmt below, so db.c can dispatch
 * on them; only db.c and the drivers include this header.
 */
#ifndef OV_DB_DRIVER_H
#define OV_DB_DRIVER_H

#include "vault/db.h"

struct db_ops {
	const char	*engine;	/* "sqlite", "postgresql" */
	int		 dialect;	/* DB_DIALECT_* */
	int		(*open)(const struct db_open *, struct db **);
	void		(*close)(struct db *);
	int		(*prepare)(struct db *, const char *, struct db_stmt **);
	void		(*release)(struct db *, struct db_stmt *);
	int		(*script)(struct db *, const char *);
	int		(*begin)(struct db *, int write);
	int		(*commit)(struct db *);
	int		(*rollback)(struct db *);
	int		(*step)(struct db_stmt *);
	void		(*reset)(struct db_stmt *);
	void		(*bind_int64)(struct db_stmt *, int, int64_t);
	void		(*bind_double)(struct db_stmt *, int, double);
	void		(*bind_text)(struct db_stmt *, int, const char *, int,
			    int copy);
	void		(*bind_blob)(struct db_stmt *, int, const void *, int,
			    int copy);
	int64_t		(*col_int64)(struct db_stmt *, int);
	double		(*col_double)(struct db_stmt *, int);
	const char	*(*col_text)(struct db_stmt *, int);
	const void	*(*col_blob)(struct db_stmt *, int);
	int		(*col_bytes)(struct db_stmt *, int);
	const char	*(*col_name)(struct db_stmt *, int);
	int		(*col_count)(struct db_stmt *);
	enum db_type	(*col_type)(struct db_stmt *, int);
	int		(*changes)(struct db *);
	int		(*in_tx)(struct db *);
	enum db_class	(*errclass)(int);
	const char	*(*errmsg)(struct db *, int);
	int		(*has_table)(struct db *, const char *, int *);
	int		(*ids_next)(struct db *, const char *, int64_t *);
	int		(*ids_follow)(struct db *, const char *, int64_t);
	int		(*migration_begin)(struct db *);
	int		(*migration_check)(struct db *, char *, size_t);
	void		(*migration_end)(struct db *);
	int		(*check)(struct db *, db_check_cb, void *);
	const char	*(*describe)(struct db *);
	const char	*(*version)(struct db *);
	int		(*watch_open)(const struct db_open *, struct db_watch **);
};

struct db {
	const struct db_ops	*ops;
};

struct db_stmt {
	const struct db_ops	*ops;
};

struct db_watch_ops {
	int		(*fd)(struct db_watch *);
	int		(*drain)(struct db_watch *);
	void		(*close)(struct db_watch *);
};

struct db_watch {
	const struct db_watch_ops *ops;
};

/* The drivers' statement caches key SQL text by this hash. */
uint32_t	db_sql_hash(const char *);

extern const struct db_ops	db_sqlite_ops;
extern const struct db_ops	db_pg_ops;

#endif
