#define _GNU_SOURCE
#include "conf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* stage0 writes a few kB; anything near this is not a stage1.conf. */
#define CONF_MAX (1 << 20)

/* The app keys that may appear once; their bit in parser.seen is their index. */
static const char *const single_keys[] = { "root", "cwd", "uid", "gid", "groups", "caps", "nnp", NULL };
static const char *const pod_keys[] = { "version", "interactive", "cgroup", NULL };
static const char *const app_keys[] = { "root", "cwd", "uid", "gid", "groups", "caps", "nnp",
	"exec", "env", "pre-start", "post-stop", "cgroup", NULL };

struct parser {
	const char *path;
	struct pod *pod;
	struct app *app; /* the app being read; NULL before the first */
	unsigned seen;   /* single_keys given for this app */
	bool version;
};

static char *empty_strv[] = { NULL };

/* One line: the file, the app if there is one, then the problem. */
static noreturn __attribute__((format(printf, 2, 3))) void bad(struct parser *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (p->app)
		fail("parse %s: app \"%s\": %s", p->path, p->app->name, msg);
	fail("parse %s: %s", p->path, msg);
}

static void strv_push(struct strv *s, char *str)
{
	char **v = s->v == empty_strv ? NULL : s->v;
	v = xrealloc(v, (s->n + 2) * sizeof *v);
	v[s->n++] = str;
	v[s->n] = NULL;
	s->v = v;
}

static void check_absolute(struct parser *p, const char *key, const char *value)
{
	if (value[0] != '/')
		bad(p, "%s \"%s\" is not an absolute path", key, value);
}

static bool parse_flag(struct parser *p, const char *key, const char *value)
{
	if (strcmp(value, "0") && strcmp(value, "1"))
		bad(p, "%s \"%s\" is not 0 or 1", key, value);
	return value[0] == '1';
}

/* uid_t and gid_t are 32 bits; -1 means "leave unchanged" to setresuid, so not an id. */
static unsigned parse_id(struct parser *p, const char *key, const char *value)
{
	unsigned long long v;
	if (!parse_uint(value, 10, UINT32_MAX - 1, &v))
		bad(p, "%s \"%s\" is not a decimal id", key, value);
	return (unsigned)v;
}

static void parse_groups(struct parser *p, struct app *a, char *value)
{
	if (!*value)
		return; /* no supplementary groups */
	for (char *s = value;;) {
		char *comma = strchr(s, ',');
		if (comma)
			*comma = '\0';
		a->groups = xrealloc(a->groups, (a->ngroups + 1) * sizeof *a->groups);
		a->groups[a->ngroups++] = parse_id(p, "groups", s);
		if (!comma)
			return;
		s = comma + 1;
	}
}

static void new_app(struct parser *p, const char *name)
{
	if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") || strlen(name) > 200)
		bad(p, "app name \"%s\" cannot name a file in %s/status", name, RKT_DIR);
	if (conf_find_app(p->pod, name))
		bad(p, "app \"%s\" is given twice", name);
	struct pod *pod = p->pod;
	pod->apps = xrealloc(pod->apps, (pod->napps + 1) * sizeof *pod->apps);
	struct app *a = &pod->apps[pod->napps++];
	memset(a, 0, sizeof *a);
	a->name = name;
	a->exec.v = a->env.v = a->pre_start.v = a->post_stop.v = a->cgroups.v = empty_strv;
	p->app = a;
	p->seen = 0;
}

static void pod_key(struct parser *p, const char *key, char *value)
{
	if (!strcmp(key, "version")) {
		if (strcmp(value, "1"))
			bad(p, "version \"%s\" is not 1: this stage1 speaks interface version 1", value);
		p->version = true;
	} else if (!strcmp(key, "interactive")) {
		p->pod->interactive = parse_flag(p, key, value);
	} else if (!strcmp(key, "cgroup")) {
		check_absolute(p, key, value);
		strv_push(&p->pod->cgroups, value);
	} else if (index_of(app_keys, key) >= 0) {
		bad(p, "key \"%s\" comes before the first app", key);
	} else {
		bad(p, "unknown key \"%s\"", key);
	}
}

static void app_key(struct parser *p, const char *key, char *value)
{
	struct app *a = p->app;
	int single = index_of(single_keys, key);
	if (single >= 0) {
		if (p->seen & (1u << single))
			bad(p, "key \"%s\" is given twice", key);
		p->seen |= 1u << single;
	}
	if (!strcmp(key, "exec")) {
		if (a->exec.n == 0)
			check_absolute(p, "exec[0]", value);
		strv_push(&a->exec, value);
	} else if (!strcmp(key, "env")) {
		if (!strchr(value, '=') || value[0] == '=')
			bad(p, "env \"%s\" is not NAME=value", value);
		strv_push(&a->env, value);
	} else if (!strcmp(key, "pre-start")) {
		strv_push(&a->pre_start, value);
	} else if (!strcmp(key, "post-stop")) {
		strv_push(&a->post_stop, value);
	} else if (!strcmp(key, "cgroup")) {
		check_absolute(p, key, value);
		strv_push(&a->cgroups, value);
	} else if (!strcmp(key, "root")) {
		check_absolute(p, key, value);
		a->root = value;
	} else if (!strcmp(key, "cwd")) {
		check_absolute(p, key, value);
		a->cwd = value;
	} else if (!strcmp(key, "uid")) {
		a->uid = parse_id(p, key, value);
	} else if (!strcmp(key, "gid")) {
		a->gid = parse_id(p, key, value);
	} else if (!strcmp(key, "groups")) {
		parse_groups(p, a, value);
	} else if (!strcmp(key, "caps")) {
		unsigned long long caps;
		if (!parse_uint(value, 16, UINT64_MAX, &caps))
			bad(p, "caps \"%s\" is not a hexadecimal mask", value);
		a->caps = caps;
		a->has_caps = true;
	} else if (!strcmp(key, "nnp")) {
		a->nnp = parse_flag(p, key, value);
	} else if (index_of(pod_keys, key) >= 0) {
		bad(p, "key \"%s\" belongs before the first app", key);
	} else {
		bad(p, "unknown key \"%s\"", key);
	}
}

/* What an app cannot do without, checked once all its keys are read. */
static void check_app(struct parser *p, struct app *a)
{
	p->app = a;
	if (!a->root)
		bad(p, "no root");
	if (a->exec.n == 0)
		bad(p, "no exec");
	if (!a->cwd)
		a->cwd = "/";
	if (a->pre_start.n && a->pre_start.v[0][0] != '/')
		bad(p, "pre-start \"%s\" is not an absolute path", a->pre_start.v[0]);
	if (a->post_stop.n && a->post_stop.v[0][0] != '/')
		bad(p, "post-stop \"%s\" is not an absolute path", a->post_stop.v[0]);
}

void conf_read(const char *path, struct pod *pod)
{
	memset(pod, 0, sizeof *pod);
	pod->cgroups.v = empty_strv;
	struct parser p = { .path = path, .pod = pod };
	size_t len;
	char *buf = read_file(path, CONF_MAX, &len);
	if (len > 0 && buf[len - 1] != '\0')
		bad(&p, "the last string is not NUL-terminated");
	for (size_t at = 0; at < len;) {
		char *key, *value;
		if (!nul_pair(buf, len, &at, &key, &value))
			bad(&p, "key \"%s\" has no value", key);
		if (!strcmp(key, "app"))
			new_app(&p, value);
		else if (p.app)
			app_key(&p, key, value);
		else
			pod_key(&p, key, value);
	}
	p.app = NULL;
	if (!p.version)
		bad(&p, "no version");
	if (pod->napps == 0)
		bad(&p, "no app");
	for (size_t i = 0; i < pod->napps; i++)
		check_app(&p, &pod->apps[i]);
}

struct app *conf_find_app(struct pod *pod, const char *name)
{
	for (size_t i = 0; i < pod->napps; i++)
		if (!strcmp(pod->apps[i].name, name))
			return &pod->apps[i];
	return NULL;
}
