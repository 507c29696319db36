/* m2pt report: writing the report files into a directory (report.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

static int errf(char *err, size_t n, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return rc;
}

/* mkdir -p. -2 with err when a part cannot be created or is not a directory. */
static int make_dirs(const char *dir, char *err, size_t n) {
    char path[4096];
    size_t len = strlen(dir);
    if (!len) return errf(err, n, -2, "no output directory given");
    if (len >= sizeof path) return errf(err, n, -2, "output directory name too long");
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char c = path[i];
        path[i] = '\0';
        struct stat st;
        if (mkdir(path, 0777) && errno != EEXIST) return errf(err, n, -2, "cannot create directory %s: %s", path, strerror(errno));
        if (stat(path, &st)) return errf(err, n, -2, "cannot create directory %s: %s", path, strerror(errno));
        if (!S_ISDIR(st.st_mode)) return errf(err, n, -2, "%s exists and is not a directory", path);
        path[i] = c;
    }
    return 0;
}

/* DIR/name through DIR/.name.tmp renamed into place. */
static int write_file(const char *dir, const char *name, const char *prefix, const char *text, size_t len, char *err,
                      size_t n) {
    char path[4352], tmp[4352];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) return errf(err, n, -2, "cannot write %s: %s", path, strerror(errno));
    int bad = 0;
    const char *parts[2] = {prefix ? prefix : "", text};
    size_t lens[2] = {prefix ? strlen(prefix) : 0, len};
    for (int k = 0; k < 2 && !bad; k++) {
        size_t off = 0;
        while (off < lens[k]) {
            ssize_t w = write(fd, parts[k] + off, lens[k] - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                bad = errno ? errno : EIO;
                break;
            }
            off += (size_t)w;
        }
    }
    if (close(fd) && !bad) bad = errno;
    if (!bad && rename(tmp, path)) bad = errno;
    if (bad) {
        unlink(tmp);
        return errf(err, n, -2, "cannot write %s: %s", path, strerror(bad));
    }
    return 0;
}

int m2pt_report_write(const m2pt_doc *d, const char *title, const char *dir, char *err, size_t errlen) {
    int rc = make_dirs(dir, err, errlen);
    if (rc) return rc;
    m2pt_strbuf md, html;
    m2pt_sb_init(&md), m2pt_sb_init(&html);
    if (m2pt_doc_markdown(d, &md) || m2pt_doc_html(d, title, &html)) rc = errf(err, errlen, -1, "out of memory");
    for (int i = 0; i < d->n && !rc; i++)
        if (d->b[i].kind == M2PT_DOC_FIGURE)
            rc = write_file(dir, d->b[i].file, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", d->b[i].svg,
                            strlen(d->b[i].svg), err, errlen);
    if (!rc) rc = write_file(dir, "report.md", NULL, md.buf, md.len, err, errlen);
    if (!rc) rc = write_file(dir, "report.html", NULL, html.buf, html.len, err, errlen);
    m2pt_sb_free(&md), m2pt_sb_free(&html);
    return rc;
}
