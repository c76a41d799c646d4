/* GTFS feed sources: a folder, or a zip archive. The only module that touches the archive
 * format: with BUYT_HAVE_LIBZIP it streams members through libzip; otherwise it runs the
 * `unzip` program (no shell: argv only) into a mkdtemp() folder and reads that. */
#include "gtfs_source.h"

#include "error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef BUYT_HAVE_LIBZIP
#include <zip.h>
#endif

extern char **environ;

struct buyt_gtfs_source {
    char dir[PATH_MAX]; /* folder holding the files ("" when reading a zip with libzip) */
    int temp_dir;       /* dir is ours to remove */
#ifdef BUYT_HAVE_LIBZIP
    zip_t *zip;
#endif
};

struct buyt_gtfs_member {
    FILE *f;
#ifdef BUYT_HAVE_LIBZIP
    zip_file_t *zf;
#endif
};

static void seterr(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

/* Removes the files of a flat temporary folder, then the folder. */
static void remove_temp_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[PATH_MAX + 256];
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

#ifdef BUYT_HAVE_LIBZIP
static int zip_open_source(struct buyt_gtfs_source *s, const char *path, char *err, size_t errlen)
{
    int zerr = 0;
    s->zip = zip_open(path, ZIP_RDONLY, &zerr);
    if (!s->zip) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        seterr(err, errlen, "%s: not a readable zip archive: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return BUYT_EINVAL;
    }
    return 0;
}
#else
/* Extracts the archive's *.txt members, flattened (-j), into a fresh temporary folder. */
static int zip_open_source(struct buyt_gtfs_source *s, const char *path, char *err, size_t errlen)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/buyt-gtfs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s->dir)) {
        seterr(err, errlen, "creating a temporary folder in %s: %s", tmp && *tmp ? tmp : "/tmp",
               strerror(errno));
        return BUYT_EIO;
    }
    s->temp_dir = 1;
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa)) {
        seterr(err, errlen, "%s: cannot start unzip", path);
        return BUYT_ENOMEM;
    }
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    /* -qq quiet, -o overwrite, -j flatten folders (also defeats "../" member names; macOS
     * "__MACOSX/._stops.txt" companions land as "._stops.txt" and are never read). */
    char *argv[] = {"unzip", "-qq", "-o", "-j", (char *)path, "*.txt", "-d", s->dir, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "unzip", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) {
        seterr(err, errlen, "%s: cannot run unzip (%s): install the unzip package", path,
               strerror(rc));
        return BUYT_EIO;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            seterr(err, errlen, "%s: waiting for unzip: %s", path, strerror(errno));
            return BUYT_EIO;
        }
    }
    /* unzip: 0 ok, 1 warnings (files extracted), 11 no *.txt member (missing files are then
     * reported by name). */
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code != 0 && code != 1 && code != 11) {
        /* Statuses from unzip(1), "DIAGNOSTICS". */
        const char *why = code == 9    ? "not a zip archive"
                          : code == 2  ? "corrupt zip archive"
                          : code == 3  ? "corrupt zip archive"
                          : code == 50 ? "disk full while extracting"
                          : code == 82 ? "encrypted zip archive"
                                       : "unreadable zip archive";
        seterr(err, errlen, "%s: %s (unzip exit status %d)", path, why, code);
        return BUYT_EINVAL;
    }
    return 0;
}
#endif

int buyt_gtfs_source_open(const char *path, struct buyt_gtfs_source **out, char *err, size_t errlen)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        seterr(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    struct buyt_gtfs_source *s = calloc(1, sizeof *s);
    if (!s) {
        seterr(err, errlen, "out of memory");
        return BUYT_ENOMEM;
    }
    int rc = 0;
    if (S_ISDIR(st.st_mode)) {
        if (strlen(path) >= sizeof s->dir) {
            seterr(err, errlen, "%s: path too long", path);
            rc = BUYT_EINVAL;
        } else {
            snprintf(s->dir, sizeof s->dir, "%s", path);
        }
    } else if (S_ISREG(st.st_mode)) {
        char abs[PATH_MAX];
        if (!realpath(path, abs)) { /* absolute: a leading '-' can't look like an option */
            seterr(err, errlen, "%s: %s", path, strerror(errno));
            rc = BUYT_EIO;
        } else {
            rc = zip_open_source(s, abs, err, errlen);
        }
    } else {
        seterr(err, errlen, "%s: neither a folder nor a zip file", path);
        rc = BUYT_EINVAL;
    }
    if (rc) {
        buyt_gtfs_source_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void buyt_gtfs_source_free(struct buyt_gtfs_source *src)
{
    if (!src)
        return;
#ifdef BUYT_HAVE_LIBZIP
    if (src->zip)
        zip_discard(src->zip); /* read-only: nothing to write back */
#endif
    if (src->temp_dir)
        remove_temp_dir(src->dir);
    free(src);
}

int buyt_gtfs_member_open(struct buyt_gtfs_source *src, const char *name,
                          struct buyt_gtfs_member **out, char *err, size_t errlen)
{
    *out = NULL;
    struct buyt_gtfs_member *m = calloc(1, sizeof *m);
    if (!m) {
        seterr(err, errlen, "out of memory");
        return BUYT_ENOMEM;
    }
#ifdef BUYT_HAVE_LIBZIP
    if (src->zip) {
        /* ZIP_FL_NODIR: match the name in any folder ("feed/stops.txt" is stops.txt). */
        zip_int64_t i = zip_name_locate(src->zip, name, ZIP_FL_NODIR);
        if (i < 0) {
            free(m);
            return -ENOENT;
        }
        m->zf = zip_fopen_index(src->zip, (zip_uint64_t)i, 0);
        if (!m->zf) {
            seterr(err, errlen, "%s: %s", name, zip_strerror(src->zip));
            free(m);
            return BUYT_EIO;
        }
        *out = m;
        return 0;
    }
#endif
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", src->dir, name);
    m->f = fopen(p, "rb");
    if (!m->f) {
        int e = errno;
        free(m);
        if (e == ENOENT)
            return -ENOENT;
        seterr(err, errlen, "%s: %s", name, strerror(e));
        return -e;
    }
    *out = m;
    return 0;
}

ssize_t buyt_gtfs_member_read(struct buyt_gtfs_member *m, void *buf, size_t len)
{
#ifdef BUYT_HAVE_LIBZIP
    if (m->zf) {
        zip_int64_t n = zip_fread(m->zf, buf, len);
        return n < 0 ? BUYT_EIO : (ssize_t)n;
    }
#endif
    size_t n = fread(buf, 1, len, m->f);
    if (n == 0 && ferror(m->f))
        return BUYT_EIO;
    return (ssize_t)n;
}

void buyt_gtfs_member_close(struct buyt_gtfs_member *m)
{
    if (!m)
        return;
#ifdef BUYT_HAVE_LIBZIP
    if (m->zf)
        zip_fclose(m->zf);
#endif
    if (m->f)
        fclose(m->f);
    free(m);
}
