/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Manifests in and out (see conjflow/manifest.h): splits an input (text,
 * files, directories, standard input) into documents, JSON with jansson or
 * YAML with yaml.c, unpacks Lists, converts each object with the one
 * converter of convert.c, and checks that no object appears twice.  All or
 * nothing: an input with any error yields no objects and a message listing
 * every error.  Also prints objects back as JSON or YAML.
 */
#include "conjflow-config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conjflow/cfutil.h"
#include "conjflow/manifest.h"
#include "manifest/manifest-private.h"

/* ---- Object lists ------------------------------------------------------- */

/* Initializes 'list' as empty. */
void
cf_object_list_init(struct cf_object_list *list)
{
    list->objs = NULL;
    list->n = 0;
    list->allocated = 0;
}

/* Frees every object of 'list' and the list's array. */
void
cf_object_list_destroy(struct cf_object_list *list)
{
    for (size_t i = 0; i < list->n; i++) {
        cf_object_destroy(list->objs[i]);
    }
    free(list->objs);
    cf_object_list_init(list);
}

/* Appends 'obj' to 'list', which takes ownership of it. */
void
cf_object_list_push(struct cf_object_list *list, struct cf_object *obj)
{
    if (list->n >= list->allocated) {
        list->objs = cf_x2nrealloc(list->objs, &list->allocated,
                                   sizeof *list->objs);
    }
    list->objs[list->n++] = obj;
}

/* ---- Parsing ------------------------------------------------------------ */

/* Appends 'msg' (malloc'd, freed here) as new line(s) to 'errors'. */
static void
add_error(struct cf_ds *errors, char *msg)
{
    if (errors->len) {
        cf_ds_put_char(errors, '\n');
    }
    cf_ds_put_cstr(errors, msg);
    free(msg);
}

/* Splits a stream of JSON values 'text' ('len' bytes) into a new array
 * '*docsp'.  Returns NULL or a malloc'd error. */
static char *
json_load_stream(const char *text, size_t len, const char *source,
                 json_t **docsp)
{
    json_t *docs = json_array();
    size_t pos = 0;
    *docsp = NULL;
    for (;;) {
        while (pos < len && strchr(" \t\r\n", text[pos])) {
            pos++;
        }
        if (pos >= len) {
            break;
        }
        json_error_t error;
        json_t *v = json_loadb(text + pos, len - pos,
                               JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES,
                               &error);
        if (!v) {
            /* Line numbers are relative to this value's start. */
            size_t line = 1;
            for (size_t i = 0; i < pos; i++) {
                line += text[i] == '\n';
            }
            json_decref(docs);
            return cf_xasprintf("%s%sline %zu, column %d: %s",
                                source ? source : "", source ? ": " : "",
                                line + (error.line > 0 ? error.line - 1 : 0),
                                error.column, error.text);
        }
        json_array_append_new(docs, v);
        if (error.position <= 0) {
            break;
        }
        pos += error.position;
    }
    *docsp = docs;
    return NULL;
}

/* True if 'kind' is "List" or ends in "List" (PodList...). */
static bool
is_list_kind(const char *kind)
{
    size_t n = strlen(kind);
    return n >= 4 && !strcmp(kind + n - 4, "List");
}

/* Converts one document 'doc' ('where' names it) into objects appended to
 * 'out', or errors appended to 'errors'. */
static void
convert_document(const json_t *doc, const char *where,
                 enum cf_manifest_mode mode, struct cf_object_list *out,
                 struct cf_ds *errors)
{
    const json_t *kind = json_object_get(doc, "kind");
    if (json_is_object(doc) && json_is_string(kind)
        && is_list_kind(json_string_value(kind))) {
        const json_t *items = json_object_get(doc, "items");
        const char *list_kind = json_string_value(kind);
        if (!json_is_array(items) && !json_is_null(items) && items) {
            add_error(errors, cf_xasprintf("%s: items: expected an array",
                                           where));
            return;
        }
        /* An API list (PodList) may leave out its items' kind. */
        char *item_kind = (strcmp(list_kind, "List")
                           ? cf_xmemdup0(list_kind, strlen(list_kind) - 4)
                           : NULL);
        const json_t *api = json_object_get(doc, "apiVersion");
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *item = json_array_get(items, i);
            char *w = cf_xasprintf("%s: items[%zu]", where, i);
            json_t *copy = NULL;
            if (item_kind && json_is_object(item)
                && !json_object_get(item, "kind")) {
                copy = json_deep_copy(item);
                json_object_set_new(copy, "kind", json_string(item_kind));
                if (json_is_string(api)
                    && !json_object_get(copy, "apiVersion")) {
                    json_object_set(copy, "apiVersion", (json_t *) api);
                }
            }
            struct cf_object *obj;
            char *error = cf_manifest_object_from_json(copy ? copy : item, w,
                                                       mode, &obj);
            if (error) {
                add_error(errors, error);
            } else {
                cf_object_list_push(out, obj);
            }
            json_decref(copy);
            free(w);
        }
        free(item_kind);
        return;
    }

    struct cf_object *obj;
    char *error = cf_manifest_object_from_json(doc, where, mode, &obj);
    if (error) {
        add_error(errors, error);
    } else {
        cf_object_list_push(out, obj);
    }
}

/* Parses 'text' into 'out' (which may already hold objects of other
 * inputs), appending errors to 'errors'. */
static void
parse_text(const char *text, size_t len, const char *source,
           enum cf_manifest_mode mode, struct cf_object_list *out,
           struct cf_ds *errors)
{
    size_t i = 0;
    while (i < len && strchr(" \t\r\n", text[i])) {
        i++;
    }
    json_t *docs;
    char *error = (i < len && (text[i] == '{' || text[i] == '[')
                   ? json_load_stream(text, len, source, &docs)
                   : cf_yaml_load(text, len, source, &docs));
    if (error) {
        add_error(errors, error);
        return;
    }

    size_t n_docs = json_array_size(docs);
    const char *src = source ? source : "-";
    for (size_t d = 0; d < n_docs; d++) {
        const json_t *doc = json_array_get(docs, d);
        if (json_is_null(doc)) {
            continue;           /* An empty YAML document. */
        }
        char *where = (n_docs > 1
                       ? cf_xasprintf("%s: document %zu", src, d + 1)
                       : cf_xstrdup(src));
        convert_document(doc, where, mode, out, errors);
        free(where);
    }
    json_decref(docs);
}

static int
compare_objects(const void *a_, const void *b_)
{
    const struct cf_object *const *a = a_;
    const struct cf_object *const *b = b_;
    if ((*a)->kind != (*b)->kind) {
        return (*a)->kind < (*b)->kind ? -1 : 1;
    }
    const char *na = cf_object_ns(*a), *nb = cf_object_ns(*b);
    int cmp = strcmp(na ? na : "", nb ? nb : "");
    return cmp ? cmp : strcmp(cf_object_name(*a), cf_object_name(*b));
}

/* Reports every object of 'objs[start..]' that appears twice (same kind,
 * namespace and name). */
static void
check_duplicates(const struct cf_object_list *list, size_t start,
                 struct cf_ds *errors)
{
    size_t n = list->n - start;
    if (n < 2) {
        return;
    }
    struct cf_object **sorted = cf_xcalloc(n, sizeof *sorted);
    memcpy(sorted, &list->objs[start], n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare_objects);
    for (size_t i = 1; i < n; i++) {
        if (!compare_objects(&sorted[i - 1], &sorted[i])
            && (i < 2 || compare_objects(&sorted[i - 2], &sorted[i]))) {
            struct cf_ds d = CF_DS_INIT;
            cf_object_describe(sorted[i], &d);
            cf_ds_put_cstr(&d, ": defined more than once");
            add_error(errors, cf_ds_steal(&d));
        }
    }
    free(sorted);
}

/* Removes and frees the objects of 'list' from index 'start' on. */
static void
truncate_list(struct cf_object_list *list, size_t start)
{
    for (size_t i = start; i < list->n; i++) {
        cf_object_destroy(list->objs[i]);
    }
    list->n = start;
}

/* Parses 'len' bytes of 'text', named 'source', into 'out'.  See
 * conjflow/manifest.h. */
char *
cf_manifest_parse(const char *text, size_t len, const char *source,
                  enum cf_manifest_mode mode, struct cf_object_list *out)
{
    struct cf_ds errors = CF_DS_INIT;
    size_t start = out->n;
    parse_text(text, len, source, mode, out, &errors);
    if (!errors.len) {
        check_duplicates(out, start, &errors);
    }
    if (errors.len) {
        truncate_list(out, start);
        return cf_ds_steal(&errors);
    }
    return NULL;
}

/* Reads all of 'stream' into a new string, storing its length in '*lenp'.
 * Returns NULL on error (errno set). */
static char *
read_stream(FILE *stream, size_t *lenp)
{
    struct cf_ds ds = CF_DS_INIT;
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stream)) > 0) {
        cf_ds_put_buf(&ds, buf, n);
    }
    if (ferror(stream)) {
        int error = errno ? errno : EIO;
        cf_ds_destroy(&ds);
        errno = error;
        return NULL;
    }
    *lenp = ds.len;
    return cf_ds_steal(&ds);
}

/* Parses the file 'path' into 'out', errors into 'errors'. */
static void
parse_file(const char *path, enum cf_manifest_mode mode,
           struct cf_object_list *out, struct cf_ds *errors)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        add_error(errors, cf_xasprintf("%s: %s", path, strerror(errno)));
        return;
    }
    size_t len;
    char *text = read_stream(f, &len);
    if (!text) {
        add_error(errors, cf_xasprintf("%s: %s", path, strerror(errno)));
    } else {
        parse_text(text, len, path, mode, out, errors);
    }
    free(text);
    fclose(f);
}

/* True if 'name' ends in ".yaml", ".yml" or ".json". */
static bool
is_manifest_name(const char *name)
{
    static const char *const exts[] = { ".yaml", ".yml", ".json" };
    size_t n = strlen(name);
    if (name[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < CF_ARRAY_SIZE(exts); i++) {
        size_t e = strlen(exts[i]);
        if (n > e && !strcmp(name + n - e, exts[i])) {
            return true;
        }
    }
    return false;
}

static int
compare_names(const void *a_, const void *b_)
{
    const char *const *a = a_;
    const char *const *b = b_;
    return strcmp(*a, *b);
}

/* Parses the manifests of directory 'path' into 'out'. */
static void
parse_dir(const char *path, enum cf_manifest_mode mode,
          struct cf_object_list *out, struct cf_ds *errors)
{
    DIR *dir = opendir(path);
    if (!dir) {
        add_error(errors, cf_xasprintf("%s: %s", path, strerror(errno)));
        return;
    }
    char **names = NULL;
    size_t n = 0, allocated = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (is_manifest_name(de->d_name)) {
            if (n >= allocated) {
                names = cf_x2nrealloc(names, &allocated, sizeof *names);
            }
            names[n++] = cf_xstrdup(de->d_name);
        }
    }
    closedir(dir);
    if (n) {
        qsort(names, n, sizeof *names, compare_names);
    }
    size_t plen = strlen(path);
    for (size_t i = 0; i < n; i++) {
        char *file = cf_xasprintf("%s%s%s", path,
                                  plen && path[plen - 1] == '/' ? "" : "/",
                                  names[i]);
        struct stat st;
        if (!stat(file, &st) && S_ISREG(st.st_mode)) {
            parse_file(file, mode, out, errors);
        }
        free(file);
        free(names[i]);
    }
    free(names);
}

/* Parses each of the 'n_paths' 'paths' into 'out'.  See
 * conjflow/manifest.h. */
char *
cf_manifest_parse_paths(char *const *paths, size_t n_paths,
                        enum cf_manifest_mode mode,
                        struct cf_object_list *out)
{
    struct cf_ds errors = CF_DS_INIT;
    size_t start = out->n;
    for (size_t i = 0; i < n_paths; i++) {
        const char *path = paths[i];
        struct stat st;
        if (!strcmp(path, "-")) {
            size_t len;
            char *text = read_stream(stdin, &len);
            if (!text) {
                add_error(&errors, cf_xasprintf("-: %s", strerror(errno)));
            } else {
                parse_text(text, len, "-", mode, out, &errors);
            }
            free(text);
        } else if (stat(path, &st)) {
            add_error(&errors, cf_xasprintf("%s: %s", path, strerror(errno)));
        } else if (S_ISDIR(st.st_mode)) {
            parse_dir(path, mode, out, &errors);
        } else {
            parse_file(path, mode, out, &errors);
        }
    }
    if (!errors.len) {
        check_duplicates(out, start, &errors);
    }
    if (errors.len) {
        truncate_list(out, start);
        return cf_ds_steal(&errors);
    }
    return NULL;
}

/* ---- Formatting --------------------------------------------------------- */

/* Returns 'obj' as a new JSON value: its manifest if it has one, else
 * built from the model. */
static json_t *
object_json(const struct cf_object *obj)
{
    if (obj->manifest) {
        json_t *v = json_loads(obj->manifest, 0, NULL);
        if (v) {
            return v;
        }
    }
    return cf_manifest_object_to_json(obj);
}

/* Returns the JSON value to print for 'objs': the object itself, or a
 * List. */
static json_t *
objects_json(struct cf_object *const *objs, size_t n, bool as_list)
{
    if (n == 1 && !as_list) {
        return object_json(objs[0]);
    }
    json_t *list = json_object();
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(items, object_json(objs[i]));
    }
    json_object_set_new(list, "apiVersion", json_string("v1"));
    json_object_set_new(list, "items", items);
    json_object_set_new(list, "kind", json_string("List"));
    return list;
}

/* Appends 'objs' to 'out' as pretty-printed JSON (keys sorted), ending in
 * a new-line. */
void
cf_manifest_format_json(struct cf_object *const *objs, size_t n,
                        bool as_list, struct cf_ds *out)
{
    json_t *v = objects_json(objs, n, as_list);
    char *s = json_dumps(v, JSON_INDENT(4) | JSON_SORT_KEYS);
    cf_ds_put_cstr(out, s);
    cf_ds_put_char(out, '\n');
    free(s);
    json_decref(v);
}

/* Appends 'objs' to 'out' as block-style YAML (keys sorted). */
void
cf_manifest_format_yaml(struct cf_object *const *objs, size_t n,
                        bool as_list, struct cf_ds *out)
{
    json_t *v = objects_json(objs, n, as_list);
    cf_yaml_emit(v, out);
    json_decref(v);
}
