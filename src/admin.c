/* admin.c - the admin API's effects: a PUT's change applied to the
 * backend's state in the shared block (atomics only: every worker
 * process, and every loop thread of one, reads it), logged with who asked
 * and answered with the backend's new state; GET /api/v1/backends as JSON
 * or as a table; and, at a reload, what the API set carried over to the
 * new configuration's block. Nothing of it outlives the process: a stop
 * forgets it, and the config decides again at the next start. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lb_admin.h"
#include "lb_log.h"
#include "lb_server.h"

static const char *const admin_words[] = {"ready", "drain", "maint"};

static const char *
admin_word(int64_t v)
{
    return v >= 0 && v <= 2 ? admin_words[v] : "unknown";
}

/* A listener by its name ([listener:NAME] or the mapping's key), else by
 * its listen address. */
static long
find_listener(const lb_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nlisteners; i++)
        if (strcmp(cfg->listeners[i].name, name) == 0)
            return (long)i;
    for (size_t i = 0; i < cfg->nlisteners; i++)
        if (strcmp(cfg->listeners[i].listen_label, name) == 0)
            return (long)i;
    return -1;
}

/* A backend by its address as the config writes it. */
static long
find_backend(const lb_listener_cfg_t *l, const char *name)
{
    for (size_t i = 0; i < l->nbackends; i++)
        if (strcmp(l->backends[i].label, name) == 0)
            return (long)i;
    return -1;
}

static int64_t
unix_now(void)
{
    time_t t = time(NULL);

    return t == (time_t)-1 ? 0 : (int64_t)t;
}

/* ---- a PUT ---- */

static void
set_state(const lb_listener_cfg_t *l, lb_backend_state_t *st, int state,
          uint64_t now)
{
    int64_t was = lb_atomic_load(&st->admin);
    int64_t drain = l->health.drain_timeout_ms;

    lb_atomic_store(&st->admin, state);
    if (state == LB_ADMIN_MAINT && was != LB_ADMIN_MAINT)
        lb_atomic_store(&st->cut_at, drain > 0 ? (int64_t)now + drain : 0);
    else if (state != LB_ADMIN_MAINT)
        lb_atomic_store(&st->cut_at, 0); /* a cut still to come is off */
    if (state == LB_ADMIN_READY && was == LB_ADMIN_MAINT)
        lb_atomic_store(&st->up_since, now > 0 ? (int64_t)now : 1);
    if (state != was)
        lb_atomic_store(&st->changed, unix_now());
}

/* "state drain (was ready), weight 3 (was 1)" into buf. */
static void
describe(const lb_admin_change_t *ch, const int64_t was[3], char *buf,
         size_t size)
{
    size_t n = 0;

    buf[0] = '\0';
    if (ch->state >= 0)
        n += (size_t)snprintf(buf + n, size - n, "state %s (was %s)",
                              admin_word(ch->state), admin_word(was[0]));
    if (ch->weight >= 0 && n < size)
        n += (size_t)snprintf(buf + n, size - n, "%sweight %d (was %lld)",
                              n ? ", " : "", ch->weight,
                              (long long)was[1]);
    if (ch->max_conns >= 0 && n < size)
        snprintf(buf + n, size - n, "%smax_conns %d (was %lld)",
                 n ? ", " : "", ch->max_conns, (long long)was[2]);
}

/* The groups of listener li in the order the snapshot lists their
 * backends: its own (group li), then its routes'. */
static size_t
group_of(const lb_config_t *cfg, size_t li, size_t k)
{
    return k == 0 ? li
                  : cfg->nlisteners + cfg->listeners[li].first_route + k - 1;
}

/* {"listener": NAME, "backend": {...}} from a fresh snapshot: backend at
 * position at of the listener's backends (its own, then its routes'). */
static int
render_backend(lb_server_t *srv, size_t li, size_t at, lb_buf_t *out)
{
    lb_stats_snapshot_t snap;

    if (lb_stats_snapshot(srv->cfg, srv->shared, &snap) != 0)
        return 500;
    lb_buf_puts(out, "{\"listener\":");
    lb_stats_escape_json(out, snap.listeners[li].name);
    lb_buf_puts(out, ",\"backend\":");
    lb_stats_json_backend(out, &snap.listeners[li].backends[at]);
    lb_buf_puts(out, "}\n");
    lb_stats_snapshot_free(&snap);
    return out->failed ? 500 : 200;
}

static int
not_found(lb_buf_t *out, const char *what, const char *name)
{
    lb_buf_t msg = {0};

    lb_buf_printf(&msg, "no such %s: %s", what, name);
    lb_buf_puts(out, "{\"error\":");
    lb_stats_escape_json(out, msg.failed || msg.data == NULL ? what
                                                             : msg.data);
    lb_buf_puts(out, "}\n");
    lb_buf_free(&msg);
    return 404;
}

/* The values a change replaces, for its log line. */
static void
values(const lb_listener_cfg_t *gc, lb_backend_state_t *st, size_t b,
       int64_t was[3])
{
    int64_t w = lb_atomic_load(&st->weight);
    int64_t m = lb_atomic_load(&st->max_conns);

    was[0] = lb_atomic_load(&st->admin);
    was[1] = w > 0 ? w : gc->backends[b].weight;
    was[2] = m > 0 ? m - 1 : gc->health.max_conns;
}

static void
change(lb_server_t *srv, size_t g, size_t b, const lb_admin_change_t *ch,
       const char *who)
{
    const lb_listener_cfg_t *gc = lb_config_group(srv->cfg, g);
    lb_backend_state_t *st = &srv->shared->state[g][b];
    int64_t was[3];
    char what[200];

    values(gc, st, b, was);
    if (ch->state >= 0)
        set_state(gc, st, ch->state, lb_loop_now(srv->loop));
    if (ch->weight >= 0)
        lb_atomic_store(&st->weight, ch->weight);
    if (ch->max_conns >= 0)
        lb_atomic_store(&st->max_conns, (int64_t)ch->max_conns + 1);
    describe(ch, was, what, sizeof(what));
    lb_log("Admin API: backend %s of %s%s%s: %s, by %s",
           gc->backends[b].label,
           g < srv->cfg->nlisteners ? "" : "route ",
           g < srv->cfg->nlisteners ? "" : gc->name,
           g < srv->cfg->nlisteners ? gc->name : "", what, who);
}

/* The backend is every group of the listener that lists it (its own
 * backends, its routes'): each is changed; the first is answered. */
int
lb_admin_apply(lb_server_t *srv, const char *listener, const char *backend,
               const lb_admin_change_t *ch, const char *who, lb_buf_t *out)
{
    long li = find_listener(srv->cfg, listener), first = -1;
    size_t at = 0;

    if (li < 0)
        return not_found(out, "listener", listener);
    for (size_t k = 0; k <= srv->cfg->listeners[li].nroutes; k++) {
        size_t g = group_of(srv->cfg, (size_t)li, k);
        const lb_listener_cfg_t *gc = lb_config_group(srv->cfg, g);
        long b = find_backend(gc, backend);

        if (b >= 0) {
            change(srv, g, (size_t)b, ch, who);
            if (first < 0)
                first = (long)(at + (size_t)b);
        }
        at += gc->nbackends;
    }
    if (first < 0)
        return not_found(out, "backend", backend);
    return render_backend(srv, (size_t)li, (size_t)first, out);
}

/* ---- GET /api/v1/backends ---- */

int
lb_stats_api_json(const lb_stats_snapshot_t *s, lb_buf_t *out)
{
    lb_buf_puts(out, "{\"listeners\":[");
    for (size_t i = 0; i < s->nlisteners; i++) {
        const lb_stats_listener_t *l = &s->listeners[i];

        lb_buf_puts(out, i ? ",\n{\"name\":" : "\n{\"name\":");
        lb_stats_escape_json(out, l->name);
        lb_buf_puts(out, ",\"address\":");
        lb_stats_escape_json(out, l->address);
        lb_buf_printf(out, ",\"queue_length\":%lld,\"backends\":[",
                      (long long)l->queued);
        for (size_t j = 0; j < l->nbackends; j++) {
            lb_buf_puts(out, j ? ",\n  " : "\n  ");
            lb_stats_json_backend(out, &l->backends[j]);
        }
        lb_buf_puts(out, "]}");
    }
    lb_buf_puts(out, "]}\n");
    return out->failed ? LB_ENOMEM : 0;
}

/* A config's name as a table cell: control bytes would break the line. */
static void
cell(lb_buf_t *b, const char *text, size_t width)
{
    size_t n = 0;

    for (; text[n]; n++)
        lb_buf_add(b, (unsigned char)text[n] < ' ' ? "?" : &text[n], 1);
    while (n++ < width + 2)
        lb_buf_add(b, " ", 1);
}

static void
backend_cells(lb_buf_t *b, const lb_stats_backend_t *be)
{
    char check[64];

    if (be->checked == LB_CHECKED_NONE)
        snprintf(check, sizeof(check), "-");
    else if (be->checked == LB_CHECKED_PASS)
        snprintf(check, sizeof(check), "passed %lld ms",
                 (long long)be->check_ms);
    else
        snprintf(check, sizeof(check), "failed: %s",
                 lb_check_reason(be->check_reason));
    lb_buf_printf(b, "%-7s %-6s %6lld %9lld %6lld %9lld  %s\n",
                  be->down == LB_UP           ? "up"
                  : be->down == LB_DOWN_CHECKS ? "down/ck"
                                               : "down",
                  admin_word(be->admin), (long long)be->weight,
                  (long long)be->max_conns, (long long)be->active,
                  (long long)be->connections, check);
}

int
lb_stats_api_text(const lb_stats_snapshot_t *s, lb_buf_t *out)
{
    size_t wl = strlen("LISTENER"), wb = strlen("BACKEND");

    for (size_t i = 0; i < s->nlisteners; i++) {
        wl = strlen(s->listeners[i].name) > wl ? strlen(s->listeners[i].name)
                                               : wl;
        for (size_t j = 0; j < s->listeners[i].nbackends; j++) {
            const lb_stats_backend_t *be = &s->listeners[i].backends[j];
            size_t n = strlen(be->name) + (be->route ? strlen(be->route) + 1
                                                     : 0);

            wb = n > wb ? n : wb;
        }
    }
    cell(out, "LISTENER", wl);
    cell(out, "BACKEND", wb);
    lb_buf_puts(out, "STATE   ADMIN  WEIGHT MAX_CONNS   OPEN     TOTAL  "
                     "LAST CHECK\n");
    for (size_t i = 0; i < s->nlisteners; i++)
        for (size_t j = 0; j < s->listeners[i].nbackends; j++) {
            const lb_stats_backend_t *be = &s->listeners[i].backends[j];
            lb_buf_t name = {0};

            if (be->route) /* "api/10.0.0.1:443": route api's backend */
                lb_buf_printf(&name, "%s/", be->route);
            lb_buf_puts(&name, be->name);
            cell(out, s->listeners[i].name, wl);
            cell(out, name.failed ? be->name : name.data, wb);
            lb_buf_free(&name);
            backend_cells(out, be);
        }
    return out->failed ? LB_ENOMEM : 0;
}

/* ---- across a reload ---- */

/* The group of old_cfg that is new group g of cfg: the same listener
 * name, and the same route name for a route; -1 if none. */
static long
old_group(const lb_config_t *old_cfg, const lb_config_t *cfg, size_t g)
{
    const lb_listener_cfg_t *gc = lb_config_group(cfg, g);
    const char *lname = g < cfg->nlisteners
                            ? gc->name
                            : cfg->listeners[gc->listener].name;
    long li = find_listener(old_cfg, lname);

    if (li < 0 || strcmp(old_cfg->listeners[li].name, lname) != 0)
        return -1;
    if (g < cfg->nlisteners)
        return li;
    for (size_t r = 0; r < old_cfg->listeners[li].nroutes; r++) {
        size_t og = group_of(old_cfg, (size_t)li, r + 1);

        if (strcmp(lb_config_group(old_cfg, og)->name, gc->name) == 0)
            return (long)og;
    }
    return -1;
}

/* Backend b of l takes what the API set on old backend ob of ol. */
static void
carry_backend(const lb_listener_cfg_t *ol, size_t ob,
              lb_backend_state_t *from, const lb_listener_cfg_t *l,
              size_t b, lb_backend_state_t *to)
{
    int64_t admin = lb_atomic_load(&from->admin);
    int64_t weight = lb_atomic_load(&from->weight);
    int64_t max = lb_atomic_load(&from->max_conns);

    if (admin == LB_ADMIN_READY && weight == 0 && max == 0)
        return;
    lb_atomic_store(&to->admin, admin);
    if (admin == LB_ADMIN_MAINT)
        lb_atomic_store(&to->cut_at, lb_atomic_load(&from->cut_at));
    /* A value the new config changed is the config's again. */
    if (weight > 0 && ol->backends[ob].weight == l->backends[b].weight)
        lb_atomic_store(&to->weight, weight);
    if (max > 0 && ol->health.max_conns == l->health.max_conns)
        lb_atomic_store(&to->max_conns, max);
    lb_log("Admin API: backend %s of %s keeps across the reload: state %s"
           "%s%s", l->backends[b].label, l->name, admin_word(admin),
           lb_atomic_load(&to->weight) ? ", its weight" : "",
           lb_atomic_load(&to->max_conns) ? ", its max_conns" : "");
}

void
lb_admin_carry(const lb_config_t *old_cfg, const lb_shared_t *old_sh,
               const lb_config_t *cfg, lb_shared_t *sh)
{
    for (size_t g = 0; g < lb_config_ngroups(cfg); g++) {
        const lb_listener_cfg_t *l = lb_config_group(cfg, g);
        long og = old_group(old_cfg, cfg, g);

        for (size_t b = 0; og >= 0 && b < l->nbackends; b++) {
            const lb_listener_cfg_t *ol = lb_config_group(old_cfg,
                                                          (size_t)og);
            long ob = find_backend(ol, l->backends[b].label);

            if (ob >= 0)
                carry_backend(ol, (size_t)ob, &old_sh->state[og][ob], l, b,
                              &sh->state[g][b]);
        }
    }
}
