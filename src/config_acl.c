/* config_acl.c - allow and deny lists: comma-separated addresses and
 * networks, over one line or several, each entry checked as it comes so
 * that a mistake names its own line. */
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

static int
acl_entry_error(lb_cfg_parser_t *p, const char *name, const char *item,
                int rc, const lb_acl_rule_t *rule)
{
    char net[LB_ACL_STRLEN];

    if (rc == LB_ACL_EHOSTBITS) {
        lb_acl_format(rule, net, sizeof(net));
        lb__cfg_fail(p, p->lineno,
                     "%s entry '%s' has bits set past its prefix length; "
                     "write %s for the whole network, or the address "
                     "alone for one host", name, item, net);
    } else if (rc == LB_ACL_EPREFIX) {
        lb__cfg_fail(p, p->lineno,
                     "%s entry '%s': the prefix length of an %s address "
                     "must be a number from 0 to %d", name, item,
                     rule->len == 4 ? "IPv4" : "IPv6", rule->len * 8);
    } else {
        lb__cfg_fail(p, p->lineno,
                     "%s entry '%s' is not an IPv4 or IPv6 address, alone "
                     "or with a /PREFIX (e.g. 10.0.0.0/8, ::1); host names "
                     "are not allowed", name, item);
    }
    return -1;
}

static int
add_acl_entry(lb_cfg_parser_t *p, const char *item)
{
    lb_acl_rule_t rule;
    int rc = lb_acl_parse(item, &rule);

    if (rc != LB_ACL_OK && strpbrk(item, " \t") != NULL) {
        lb__cfg_fail(p, p->lineno,
                     "%s entry '%s' contains a space; separate entries "
                     "with ','", p->target_key, item);
        return -1;
    }
    if (rc != LB_ACL_OK)
        return acl_entry_error(p, p->target_key, item, rc, &rule);
    if (lb_acl_add(p->target_acl, &rule) != 0) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    return 0;
}

/* One line of a list. An empty entry is a mistake ("a,,b", ", a"),
 * except after a ',' that ends the line: the list goes on below. */
static int
add_acl_line(lb_cfg_parser_t *p, const char *list)
{
    char *copy = lb__cfg_dup(list);
    char *item, *next;
    int rc = 0;

    if (copy == NULL) {
        lb__cfg_fail(p, p->lineno, "out of memory");
        return -1;
    }
    p->target_comma_line = 0;
    for (item = copy; item != NULL && rc == 0; item = next) {
        int first = item == copy;

        item = lb__cfg_split_item(item, &next);
        if (*item != '\0') {
            rc = add_acl_entry(p, item);
        } else if (next != NULL) {
            lb__cfg_fail(p, p->lineno,
                         "empty entry in the %s list '%s'; remove the extra "
                         "','", p->target_key, list);
            rc = -1;
        } else if (!first) {
            p->target_comma_line = p->lineno;
        }
    }
    free(copy);
    return rc;
}

int
lb__cfg_opt_acl(lb_cfg_parser_t *p, const char *name, const char *value,
                void *field)
{
    p->target = LB_CFG_TARGET_ACL;
    p->target_acl = field;
    p->target_key = name;
    p->target_line = p->lineno;
    return add_acl_line(p, value);
}

int
lb__cfg_acl_more(lb_cfg_parser_t *p, const char *list)
{
    return add_acl_line(p, list);
}

void
lb__cfg_acl_end(lb_cfg_parser_t *p)
{
    if (p->target_acl->n == 0)
        lb__cfg_fail(p, p->target_line,
                     "'%s' lists no addresses; write e.g. %s = 10.0.0.0/8, "
                     "::1, or leave the key out", p->target_key,
                     p->target_key);
    else if (p->target_comma_line != 0)
        lb__cfg_fail(p, p->target_comma_line,
                     "the %s list ends with ','; remove it, or continue "
                     "the list on an indented line", p->target_key);
    p->target_acl = NULL;
    p->target_comma_line = 0;
}
