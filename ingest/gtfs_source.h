/* Where a GTFS feed's files come from: a folder, or a .zip archive (members found by name in
 * any folder of the archive). The importer reads each file as a byte stream. */
#ifndef BUYT_GTFS_SOURCE_H
#define BUYT_GTFS_SOURCE_H

#include <stddef.h>
#include <sys/types.h>

struct buyt_gtfs_source;
struct buyt_gtfs_member;

/** Opens the feed at `path`: a directory, or a regular file read as a zip archive. Archives
 *  are read with libzip when built with BUYT_HAVE_LIBZIP, otherwise extracted by the `unzip`
 *  program into a private temporary folder removed by buyt_gtfs_source_free(). On success
 *  *out is the caller's (free with buyt_gtfs_source_free()). Returns 0, or a negative code
 *  with a one-line reason in err. */
int buyt_gtfs_source_open(const char *path, struct buyt_gtfs_source **out, char *err,
                          size_t errlen);

/** Closes the source and removes any temporary files. NULL is a no-op. */
void buyt_gtfs_source_free(struct buyt_gtfs_source *src);

/** Opens file `name` ("stops.txt") of the feed. Returns 0 with *out (close it with
 *  buyt_gtfs_member_close() before freeing the source), -ENOENT if the feed has no such
 *  file, or another negative code with a reason in err. */
int buyt_gtfs_member_open(struct buyt_gtfs_source *src, const char *name,
                          struct buyt_gtfs_member **out, char *err, size_t errlen);

/** Reads up to len bytes. Returns the count, 0 at the end, or a negative code. */
ssize_t buyt_gtfs_member_read(struct buyt_gtfs_member *m, void *buf, size_t len);

/** Closes a member. NULL is a no-op. */
void buyt_gtfs_member_close(struct buyt_gtfs_member *m);

#endif
