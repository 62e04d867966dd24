/* lb_regex.h - POSIX extended regular expressions, a documented subset,
 * the same on every platform (Windows has no regcomp): what
 * check_expect_re judges a backend's first reply line with. Compiled to a
 * small program run as a Pike VM (Thompson's construction), so a match
 * takes time linear in the line whatever the pattern: the line comes from
 * the network. */
#ifndef LB_REGEX_H
#define LB_REGEX_H

#include <stddef.h>

/* The longest pattern, and the most instructions one may compile to
 * (counted repetition copies its atom). */
#define LB_REGEX_MAX_PATTERN 512
#define LB_REGEX_MAX_PROGRAM 4096
#define LB_REGEX_DUP_MAX 255 /* POSIX RE_DUP_MAX */

typedef struct lb_regex_s lb_regex_t;

/* Compiles pattern (NUL-terminated; ERE syntax: . [] [^] [:class:] * + ?
 * {m} {m,} {m,n} | () ^ $ and \ before a punctuation character). 0 with
 * *out set, or -1 with the reason in err (always NUL-terminated). */
int lb_regex_compile(const char *pattern, lb_regex_t **out, char *err,
                     size_t errlen);
/* 1 if the pattern matches somewhere in s[0..n) (any bytes; ^ and $ are
 * its ends), 0 if not, -1 out of memory. */
int lb_regex_match(const lb_regex_t *re, const char *s, size_t n);
/* A copy (a listener that inherits [options]' pattern); NULL: no memory. */
lb_regex_t *lb_regex_copy(const lb_regex_t *re);
void lb_regex_free(lb_regex_t *re);

#endif
