/* regex.c - POSIX extended regular expressions, a subset, for
 * check_expect_re: parsed into a tree, compiled to a program of a few
 * instructions, and run as a Pike VM (every thread advanced in step, each
 * instruction at most once per input byte), so a match costs time linear
 * in the input whatever the pattern. What it leaves out of POSIX ERE:
 * back-references (not ERE anyway), collating elements and equivalence
 * classes ([. .] [= =]), and locales (bytes are compared as they are,
 * classes are ASCII's). An escape before a letter or digit is refused
 * rather than read as the letter, since other engines give \d and \w a
 * meaning. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_regex.h"

#define MAX_DEPTH 64 /* nested groups */

enum { OP_CHAR, OP_ANY, OP_CLASS, OP_BOL, OP_EOL, OP_SPLIT, OP_JMP,
       OP_MATCH };

typedef struct inst_s {
    unsigned char op, c;
    unsigned x, y; /* SPLIT: both ways; JMP: x; CLASS: x is the class */
} inst_t;

typedef unsigned char class_t[32]; /* a bit per byte value */

struct lb_regex_s {
    inst_t *prog;
    size_t n;
    class_t *classes;
    size_t nclasses;
};

/* ---- the tree ---- */

enum { N_EMPTY, N_CHAR, N_ANY, N_CLASS, N_BOL, N_EOL, N_CAT, N_ALT,
       N_REPEAT };

typedef struct node_s {
    unsigned char type, c;
    int left, right;  /* children (CAT, ALT; REPEAT's is left) */
    int min, max;     /* REPEAT: max -1 is no bound */
    unsigned cls;     /* CLASS */
} node_t;

typedef struct parser_s {
    const char *p;     /* the rest of the pattern */
    node_t *nodes;
    size_t nnodes, cap;
    class_t *classes;
    size_t nclasses;
    int depth;
    char *err;
    size_t errlen;
    int failed;
} parser_t;

static int
fail(parser_t *ps, const char *why)
{
    if (!ps->failed)
        snprintf(ps->err, ps->errlen, "%s", why);
    ps->failed = 1;
    return -1;
}

static int
new_node(parser_t *ps, int type, int left, int right)
{
    node_t *n;

    if (ps->nnodes == ps->cap)
        return fail(ps, "too complex");
    n = &ps->nodes[ps->nnodes];
    memset(n, 0, sizeof(*n));
    n->type = (unsigned char)type;
    n->left = left;
    n->right = right;
    return (int)ps->nnodes++;
}

static int
char_node(parser_t *ps, int c)
{
    int n = new_node(ps, N_CHAR, -1, -1);

    if (n >= 0)
        ps->nodes[n].c = (unsigned char)c;
    return n;
}

/* ---- bracket expressions ---- */

static void
set_bit(class_t cls, int c)
{
    cls[c >> 3] |= (unsigned char)(1u << (c & 7));
}

/* The ASCII characters of a POSIX class name, as isalpha() and the
 * others answer in the C locale. */
static int
in_named(const char *name, size_t len, int c)
{
    static const char *const names[] = {
        "alnum", "alpha", "blank", "cntrl", "digit", "graph",
        "lower", "print", "punct", "space", "upper", "xdigit"};
    int lower = c >= 'a' && c <= 'z', upper = c >= 'A' && c <= 'Z';
    int digit = c >= '0' && c <= '9', graph = c > ' ' && c < 127;
    int answers[12];
    size_t i;

    answers[0] = lower || upper || digit;
    answers[1] = lower || upper;
    answers[2] = c == ' ' || c == '\t';
    answers[3] = c < ' ' || c == 127;
    answers[4] = digit;
    answers[5] = graph;
    answers[6] = lower;
    answers[7] = graph || c == ' ';
    answers[8] = graph && !lower && !upper && !digit;
    answers[9] = c == ' ' || (c >= '\t' && c <= '\r');
    answers[10] = upper;
    answers[11] = digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    for (i = 0; i < 12; i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
            return answers[i];
    return -1;
}

/* "[:name:]" at ps->p, added to cls. */
static int
named_class(parser_t *ps, class_t cls)
{
    const char *name = ps->p + 2, *end = strstr(name, ":]");

    if (end == NULL || in_named(name, (size_t)(end - name), 'a') < 0)
        return fail(ps, "unknown character class (use [:alpha:], "
                        "[:digit:], [:space:] ...)");
    for (int c = 0; c < 128; c++)
        if (in_named(name, (size_t)(end - name), c))
            set_bit(cls, c);
    ps->p = end + 2;
    return 0;
}

/* One item of a bracket expression: a class name, a range or a byte. */
static int
bracket_item(parser_t *ps, class_t cls)
{
    int lo = (unsigned char)*ps->p, hi;

    if (lo == '[' && ps->p[1] == ':')
        return named_class(ps, cls);
    if (lo == '[' && (ps->p[1] == '.' || ps->p[1] == '='))
        return fail(ps, "collating elements and equivalence classes "
                        "([. .] [= =]) are not supported");
    ps->p++;
    hi = lo;
    if (ps->p[0] == '-' && ps->p[1] != ']' && ps->p[1] != '\0') {
        hi = (unsigned char)ps->p[1];
        if (hi == '[' && ps->p[2] != '\0' && strchr(":.=", ps->p[2]))
            return fail(ps, "a range cannot end in a class");
        if (hi < lo)
            return fail(ps, "a range whose end comes before its start");
        ps->p += 2;
    }
    for (int c = lo; c <= hi; c++)
        set_bit(cls, c);
    return 0;
}

/* After '['; a ']' first is a literal, and '\' is a literal inside. */
static int
bracket(parser_t *ps)
{
    int neg = *ps->p == '^', n;
    class_t *cls;

    if (neg)
        ps->p++;
    cls = &ps->classes[ps->nclasses];
    memset(*cls, 0, sizeof(*cls));
    if (*ps->p == ']')
        set_bit(*cls, *ps->p++);
    while (*ps->p != ']') {
        if (*ps->p == '\0')
            return fail(ps, "a '[' without its ']'");
        if (bracket_item(ps, *cls) != 0)
            return -1;
    }
    ps->p++;
    if (neg)
        for (size_t i = 0; i < sizeof(*cls); i++)
            (*cls)[i] = (unsigned char)~(*cls)[i];
    n = new_node(ps, N_CLASS, -1, -1);
    if (n >= 0)
        ps->nodes[n].cls = (unsigned)ps->nclasses++;
    return n;
}

/* ---- the grammar ---- */

static int parse_alt(parser_t *ps);

static int
escape(parser_t *ps)
{
    int c = (unsigned char)*ps->p;

    if (c == '\0')
        return fail(ps, "a '\\' at the end");
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z'))
        return fail(ps, "an escape before a letter or digit (\\d, \\w, "
                        "\\1 ...) is not POSIX ERE; use [[:digit:]] and "
                        "the like");
    ps->p++;
    return char_node(ps, c);
}

static int
group(parser_t *ps)
{
    int n;

    if (++ps->depth > MAX_DEPTH)
        return fail(ps, "groups nested too deep");
    n = parse_alt(ps);
    ps->depth--;
    if (n < 0)
        return -1;
    if (*ps->p != ')')
        return fail(ps, "a '(' without its ')'");
    ps->p++;
    return n;
}

static int
parse_atom(parser_t *ps)
{
    int c = (unsigned char)*ps->p++;

    switch (c) {
    case '(':
        return group(ps);
    case '[':
        return bracket(ps);
    case '.':
        return new_node(ps, N_ANY, -1, -1);
    case '^':
        return new_node(ps, N_BOL, -1, -1);
    case '$':
        return new_node(ps, N_EOL, -1, -1);
    case '\\':
        return escape(ps);
    case '*': case '+': case '?': case '{':
        return fail(ps, "a repetition with nothing to repeat");
    default:
        return char_node(ps, c);
    }
}

/* A bound of {m,n}: up to three digits, at most LB_REGEX_DUP_MAX. */
static int
bound(parser_t *ps, int *out)
{
    int v = 0, digits = 0;

    while (*ps->p >= '0' && *ps->p <= '9' && digits < 4) {
        v = v * 10 + (*ps->p++ - '0');
        digits++;
    }
    if (digits == 0 || v > LB_REGEX_DUP_MAX)
        return fail(ps, "a bound in {} must be a number from 0 to 255");
    *out = v;
    return 0;
}

/* After '{': "m}", "m,}" or "m,n}". */
static int
interval(parser_t *ps, int *min, int *max)
{
    if (bound(ps, min) != 0)
        return -1;
    *max = *min;
    if (*ps->p == ',') {
        ps->p++;
        *max = -1;
        if (*ps->p != '}' && bound(ps, max) != 0)
            return -1;
    }
    if (*ps->p != '}')
        return fail(ps, "a '{' without its '}'");
    ps->p++;
    if (*max >= 0 && *max < *min)
        return fail(ps, "{m,n} with n less than m");
    return 0;
}

static int
parse_rep(parser_t *ps)
{
    int n = parse_atom(ps);

    while (n >= 0 && *ps->p != '\0' && strchr("*+?{", *ps->p) != NULL) {
        int c = *ps->p++, min = c == '+' ? 1 : 0, max = c == '?' ? 1 : -1;

        if (c == '{' && interval(ps, &min, &max) != 0)
            return -1;
        n = new_node(ps, N_REPEAT, n, -1);
        if (n >= 0) {
            ps->nodes[n].min = min;
            ps->nodes[n].max = max;
        }
    }
    return n;
}

static int
parse_cat(parser_t *ps)
{
    int n = new_node(ps, N_EMPTY, -1, -1);

    while (n >= 0 && *ps->p != '\0' && *ps->p != '|' && *ps->p != ')') {
        int r = parse_rep(ps);

        n = r < 0 ? -1 : new_node(ps, N_CAT, n, r);
    }
    return n;
}

static int
parse_alt(parser_t *ps)
{
    int n = parse_cat(ps);

    while (n >= 0 && *ps->p == '|') {
        int r;

        ps->p++;
        r = parse_cat(ps);
        n = r < 0 ? -1 : new_node(ps, N_ALT, n, r);
    }
    return n;
}

/* ---- code ---- */

typedef struct gen_s {
    const node_t *nodes;
    inst_t *prog;
    size_t n;
    int failed;
} gen_t;

static size_t
emit(gen_t *g, int op, unsigned x, unsigned y)
{
    if (g->n == LB_REGEX_MAX_PROGRAM) {
        g->failed = 1;
        return g->n;
    }
    g->prog[g->n].op = (unsigned char)op;
    g->prog[g->n].c = 0;
    g->prog[g->n].x = x;
    g->prog[g->n].y = y;
    return g->n++;
}

static void gen(gen_t *g, int ni);

/* The x and y of a SPLIT or JMP emitted earlier, once known. */
static void
patch(gen_t *g, size_t at, unsigned x, unsigned y)
{
    if (g->failed)
        return;
    g->prog[at].x = x;
    g->prog[at].y = y;
}

/* min copies, then either a loop (no bound) or max - min optional ones,
 * each of which may skip straight to the end. */
static void
gen_repeat(gen_t *g, const node_t *nd)
{
    size_t skips[LB_REGEX_DUP_MAX], nskips = 0, loop;

    for (int i = 0; i < nd->min && !g->failed; i++)
        gen(g, nd->left);
    if (nd->max < 0) {
        loop = emit(g, OP_SPLIT, 0, 0);
        gen(g, nd->left);
        emit(g, OP_JMP, (unsigned)loop, 0);
        patch(g, loop, (unsigned)loop + 1, (unsigned)g->n);
        return;
    }
    for (int i = nd->min; i < nd->max && !g->failed; i++) {
        skips[nskips] = emit(g, OP_SPLIT, 0, 0);
        gen(g, nd->left);
        patch(g, skips[nskips], (unsigned)skips[nskips] + 1, 0);
        nskips++;
    }
    for (size_t i = 0; i < nskips; i++)
        patch(g, skips[i], (unsigned)skips[i] + 1, (unsigned)g->n);
}

static void
gen(gen_t *g, int ni)
{
    const node_t *nd = &g->nodes[ni];
    size_t split, jmp;

    if (g->failed)
        return;
    switch (nd->type) {
    case N_EMPTY:
        return;
    case N_CHAR:
        split = emit(g, OP_CHAR, 0, 0);
        if (!g->failed)
            g->prog[split].c = nd->c;
        return;
    case N_ANY:
        emit(g, OP_ANY, 0, 0);
        return;
    case N_CLASS:
        emit(g, OP_CLASS, nd->cls, 0);
        return;
    case N_BOL:
    case N_EOL:
        emit(g, nd->type == N_BOL ? OP_BOL : OP_EOL, 0, 0);
        return;
    case N_CAT:
        gen(g, nd->left);
        gen(g, nd->right);
        return;
    case N_ALT:
        split = emit(g, OP_SPLIT, 0, 0);
        gen(g, nd->left);
        jmp = emit(g, OP_JMP, 0, 0);
        patch(g, split, (unsigned)split + 1, (unsigned)g->n);
        gen(g, nd->right);
        patch(g, jmp, (unsigned)g->n, 0);
        return;
    default:
        gen_repeat(g, nd);
        return;
    }
}

/* ---- compile ---- */

static int
build(parser_t *ps, int root, lb_regex_t *re)
{
    gen_t g = {ps->nodes, NULL, 0, 0};

    g.prog = malloc(LB_REGEX_MAX_PROGRAM * sizeof(*g.prog));
    if (g.prog == NULL)
        return fail(ps, "out of memory");
    gen(&g, root);
    emit(&g, OP_MATCH, 0, 0);
    if (g.failed) {
        free(g.prog);
        return fail(ps, "too long once its repetitions are counted out");
    }
    re->prog = g.prog;
    re->n = g.n;
    re->classes = ps->classes;
    re->nclasses = ps->nclasses;
    ps->classes = NULL;
    return 0;
}

int
lb_regex_compile(const char *pattern, lb_regex_t **out, char *err,
                 size_t errlen)
{
    size_t len = strlen(pattern);
    parser_t ps;
    lb_regex_t *re = calloc(1, sizeof(*re));
    int root = -1;

    memset(&ps, 0, sizeof(ps));
    ps.p = pattern;
    ps.err = err;
    ps.errlen = errlen;
    if (errlen > 0)
        err[0] = '\0';
    ps.cap = 3 * len + 4;
    ps.nodes = calloc(ps.cap, sizeof(*ps.nodes));
    ps.classes = calloc(len / 2 + 1, sizeof(*ps.classes));
    if (re == NULL || ps.nodes == NULL || ps.classes == NULL)
        fail(&ps, "out of memory");
    else if (len > LB_REGEX_MAX_PATTERN)
        fail(&ps, "longer than 512 characters");
    else if ((root = parse_alt(&ps)) >= 0 && *ps.p == ')')
        fail(&ps, "a ')' without its '('");
    if (!ps.failed && root >= 0)
        build(&ps, root, re);
    free(ps.nodes);
    free(ps.classes);
    if (ps.failed || root < 0) {
        free(re);
        return -1;
    }
    *out = re;
    return 0;
}

/* ---- match ---- */

typedef struct vm_s {
    const lb_regex_t *re;
    size_t n;          /* the input's length */
    size_t *mark;      /* per instruction: the step it was last added in */
    size_t *stack;
} vm_t;

/* Adds pc and what it leads to without consuming input (jumps, splits,
 * anchors that hold at pos) to list, each once per step. */
static void
add(vm_t *vm, size_t *list, size_t *count, size_t pc, size_t pos,
    size_t step)
{
    size_t top = 0;

    vm->stack[top++] = pc;
    while (top > 0) {
        const inst_t *in;

        pc = vm->stack[--top];
        if (vm->mark[pc] == step)
            continue;
        vm->mark[pc] = step;
        in = &vm->re->prog[pc];
        if (in->op == OP_JMP) {
            vm->stack[top++] = in->x;
        } else if (in->op == OP_SPLIT) {
            vm->stack[top++] = in->y;
            vm->stack[top++] = in->x;
        } else if (in->op == OP_BOL || in->op == OP_EOL) {
            if (pos == (in->op == OP_BOL ? 0 : vm->n))
                vm->stack[top++] = pc + 1;
        } else {
            list[(*count)++] = pc;
        }
    }
}

static int
consumes(const lb_regex_t *re, const inst_t *in, unsigned char c)
{
    switch (in->op) {
    case OP_CHAR:
        return in->c == c;
    case OP_ANY:
        return 1;
    case OP_CLASS:
        return (re->classes[in->x][c >> 3] >> (c & 7)) & 1;
    default:
        return 0;
    }
}

static int
run(vm_t *vm, const char *s, size_t *cur, size_t *next)
{
    size_t ncur = 0, nnext, i, *tmp;

    add(vm, cur, &ncur, 0, 0, 1);
    for (i = 0;; i++) {
        nnext = 0;
        for (size_t k = 0; k < ncur; k++) {
            const inst_t *in = &vm->re->prog[cur[k]];

            if (in->op == OP_MATCH)
                return 1;
            if (i < vm->n && consumes(vm->re, in, (unsigned char)s[i]))
                add(vm, next, &nnext, cur[k] + 1, i + 1, i + 2);
        }
        if (i == vm->n)
            return 0;
        /* A match may also start at the next byte. */
        add(vm, next, &nnext, 0, i + 1, i + 2);
        tmp = cur;
        cur = next;
        next = tmp;
        ncur = nnext;
    }
}

int
lb_regex_match(const lb_regex_t *re, const char *s, size_t n)
{
    size_t m = re->n;
    size_t *mem = calloc(5 * m + 2, sizeof(*mem));
    vm_t vm = {re, n, mem, mem + m};
    int rc;

    if (mem == NULL)
        return -1;
    rc = run(&vm, s, mem + 3 * m + 2, mem + 4 * m + 2);
    free(mem);
    return rc;
}

lb_regex_t *
lb_regex_copy(const lb_regex_t *re)
{
    lb_regex_t *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->n = re->n;
    c->nclasses = re->nclasses;
    c->prog = malloc(re->n * sizeof(*c->prog));
    c->classes = malloc((re->nclasses + 1) * sizeof(*c->classes));
    if (c->prog == NULL || c->classes == NULL) {
        lb_regex_free(c);
        return NULL;
    }
    memcpy(c->prog, re->prog, re->n * sizeof(*c->prog));
    memcpy(c->classes, re->classes, re->nclasses * sizeof(*c->classes));
    return c;
}

void
lb_regex_free(lb_regex_t *re)
{
    if (re == NULL)
        return;
    free(re->prog);
    free(re->classes);
    free(re);
}
